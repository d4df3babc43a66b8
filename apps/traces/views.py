from django.shortcuts import render


def traces_list(request):
    return render(request, "traces/list.html", {})
