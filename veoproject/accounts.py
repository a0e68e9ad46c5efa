"""Sign-up. Log in, log out, password change and reset are Django's own views."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters

from billing.services import signup_grant


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True, label=_("Email"), help_text=_("For password resets and notices."))

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email exists already. Log in or reset your password."))
        return email


def account_signup(*, form: SignupForm):
    """Create the user and post the welcome credits, together."""
    with transaction.atomic():
        user = form.save()
        signup_grant(user=user, amount=settings.SIGNUP_GRANT_CREDITS)
    return user


@sensitive_post_parameters("password1", "password2")
def signup(request):
    if request.user.is_authenticated:
        return redirect("videos:gallery")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = account_signup(form=form)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("videos:gallery")
    return render(request, "registration/signup.html", {"form": form, "grant": settings.SIGNUP_GRANT_CREDITS})
