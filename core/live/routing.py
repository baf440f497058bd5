from django.urls import path

from .consumers import JobStreamConsumer

websocket_urlpatterns = [
    path("ws/jobs/", JobStreamConsumer.as_asgi()),
]
