from django.shortcuts import render


def experiments_list(request):
    return render(request, "experiments/list.html", {})
