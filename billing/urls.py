from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("buy/", views.buy, name="buy"),
    path("payments/<int:pk>/", views.payment_detail, name="payment"),
    path("payments/<int:pk>/confirm/", views.payment_confirm, name="payment_confirm"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path("redeem/", views.redeem, name="redeem"),
]
