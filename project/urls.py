from django.urls import include, path, re_path

from project import metrics, views

urlpatterns = [
    re_path(r"^images/(?P<task_id>[0-9a-f-]{36})/(?P<variant>result|preview)\.png$", views.image),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
    path("metrics", metrics.metrics),
    path("", include("project.demo")),
]
