from django.urls import include, path, re_path

from project import metrics, views

# A result's images ("result", "result-1", ...) or the preview (see graph.links).
IMAGE = r"^images/(?P<task_id>[0-9a-f-]{36})/(?P<variant>result(?:-[0-9]{1,3})?|preview)\.png$"

urlpatterns = [
    re_path(IMAGE, views.image),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
    path("metrics", metrics.metrics),
    path("", include("project.ops")),
    path("", include("project.pagekit")),
    path("", include("project.demo")),
]
