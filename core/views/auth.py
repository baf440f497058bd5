"""Auth endpoints: register, login, refresh, profile, change password; admin user management."""

from django.contrib.auth import authenticate, password_validation, update_session_auth_hash
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView

from core.api.serializers import ErrorSerializer
from core.exceptions import InvalidCredentials, PlatformError
from core.filters import UserFilter
from core.models import Role, User
from core.permissions import IsAdminRole
from core.serializers import (
    AdminUserSerializer,
    AdminUserUpdateSerializer,
    ChangePasswordSerializer,
    LoginSerializer,
    ProfileSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from core.services.accounts import change_user_access
from core.services.roles import set_role
from core.throttles import LoginEmailThrottle, LoginIPThrottle, RegisterThrottle


def token_pair(user) -> dict:
    refresh = RefreshToken.for_user(user)
    access = str(refresh.access_token)
    return {
        "access": access,
        "access_token": access,  # the script runner's (seed 000) name for it
        "refresh": str(refresh),
        "user": UserSerializer(user).data,
    }


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [RegisterThrottle]

    @extend_schema(
        request=RegisterSerializer, responses={201: TokenPairSerializer, 400: ErrorSerializer}
    )
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            data = serializer.validated_data
            user = User.objects.create_user(
                email=data["email"],
                password=data["password"],
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            set_role(user, Role.VIEWER)
        return Response(token_pair(user), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            raise InvalidCredentials("Email or password is incorrect.")
        return Response(token_pair(user))


@extend_schema_view(
    post=extend_schema(responses={200: TokenRefreshSerializer, 401: ErrorSerializer})
)
class RefreshView(TokenRefreshView):
    """Exchange a refresh token for a new access token."""


class ProfileView(generics.RetrieveUpdateAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = ProfileSerializer
    http_method_names = ["get", "put", "patch", "head", "options"]

    def get_object(self):
        return self.request.user


class ChangePasswordView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=ChangePasswordSerializer, responses={204: None, 400: ErrorSerializer})
    def post(self, request):
        serializer = ChangePasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        if not user.check_password(serializer.validated_data["old_password"]):
            raise PlatformError(
                "The current password is incorrect.",
                fields={"old_password": ["Incorrect password."]},
            )
        new_password = serializer.validated_data["new_password"]
        try:
            password_validation.validate_password(new_password, user)
        except DjangoValidationError as exc:
            raise PlatformError(
                "The new password is not acceptable.", fields={"new_password": list(exc.messages)}
            ) from None
        user.set_password(new_password)
        user.save(update_fields=["password"])
        update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


USER_UPDATE_SCHEMA = extend_schema(
    request=AdminUserUpdateSerializer, responses={200: AdminUserSerializer, 409: ErrorSerializer}
)


@extend_schema_view(update=USER_UPDATE_SCHEMA, partial_update=USER_UPDATE_SCHEMA)
class UserAdminViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Admins list users and change their role, active and staff flags. Nobody can take
    admin access from themselves or from the last active admin (409)."""

    permission_classes = [IsAdminRole]
    serializer_class = AdminUserSerializer
    queryset = User.objects.prefetch_related("groups").order_by("email")
    search_fields = ["email", "first_name", "last_name"]
    ordering_fields = ["email", "date_joined", "last_login"]
    filterset_class = UserFilter

    def update(self, request, *args, **kwargs):
        user = self.get_object()
        changes = AdminUserUpdateSerializer(
            user, data=request.data, partial=kwargs.get("partial", False)
        )
        changes.is_valid(raise_exception=True)
        user = change_user_access(request.user, user, **changes.validated_data)
        return Response(AdminUserSerializer(user).data)
