from django.shortcuts import render


def annotations_list(request):
    return render(request, "annotations/list.html", {})
