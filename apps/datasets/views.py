from django.shortcuts import render


def datasets_list(request):
    return render(request, "datasets/list.html", {})
