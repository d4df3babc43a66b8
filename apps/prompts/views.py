from django.shortcuts import render


def prompts_list(request):
    return render(request, "prompts/list.html", {})
