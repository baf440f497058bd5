from django.urls import include, path

from core.api.routers import OptionalSlashRouter
from core.views.auth import (
    ChangePasswordView,
    LoginView,
    ProfileView,
    RefreshView,
    RegisterView,
    UserAdminViewSet,
)
from core.views.jobs import JobViewSet

router = OptionalSlashRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("auth/users", UserAdminViewSet, basename="user")

urlpatterns = [
    path("auth/register", RegisterView.as_view(), name="auth-register"),
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/refresh", RefreshView.as_view(), name="auth-refresh"),
    path("auth/profile", ProfileView.as_view(), name="auth-profile"),
    path("auth/change-password", ChangePasswordView.as_view(), name="auth-change-password"),
    path("", include(router.urls)),
]
