from django.urls import re_path

from .views import ImportViewSet, UploadImportView, UrlImportView

imports = ImportViewSet.as_view({"get": "list"})
import_detail = ImportViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    re_path(r"^upload/?$", UploadImportView.as_view(), name="import-upload"),
    re_path(r"^imports/from-url/?$", UrlImportView.as_view(), name="import-from-url"),
    re_path(r"^imports/?$", imports, name="import-list"),
    re_path(r"^imports/(?P<pk>[0-9a-fA-F-]{32,36})/?$", import_detail, name="import-detail"),
]
