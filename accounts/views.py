"""Sign-up and log-in: allauth's views with the contract's templates, the
per-address sign-up throttle, and the database's one-account-per-email rule
turned into a form error."""

from allauth.account import views as allauth_views
from allauth.account.adapter import get_adapter
from allauth.core import ratelimit
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .adapter import EMAIL_TAKEN
from .forms import LoginForm, SignupForm
from .throttle import signup_attempt_allowed


class LoginView(allauth_views.LoginView):
    template_name = "registration/login.html"
    form_class = LoginForm


class SignupView(allauth_views.SignupView):
    template_name = "registration/signup.html"
    form_class = SignupForm

    def post(self, request, *args, **kwargs):
        if not signup_attempt_allowed(request):
            form = self.get_form()
            form.is_valid()  # show the fields as typed, with any errors
            form.add_error(
                None,
                _("Too many sign-ups from your network in the last hour (at most %(limit)s). Please try again later.")
                % {"limit": settings.SIGNUPS_PER_IP_PER_HOUR},
            )
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        # One transaction: the user, their address, and (with verification
        # off) the grant. Two simultaneous sign-ups with one email both pass
        # the form's check; the unique index on lower(email) lets one through
        # and the other gets the same message as if it had come second.
        try:
            with transaction.atomic():
                return super().form_valid(form)
        except IntegrityError:
            email = form.cleaned_data.get("email", "")
            if get_user_model().objects.filter(email__iexact=email).exists():
                form.add_error("email", EMAIL_TAKEN)
            else:
                form.add_error("username", _("A user with that username already exists."))
            return self.form_invalid(form)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "grant": settings.SIGNUP_GRANT_CREDITS,
            "grant_on_verification": settings.ACCOUNT_EMAIL_VERIFICATION != "none",
        }


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset (the contract's URLs and emails) under allauth's
    reset_password rate: an address cannot be flooded with reset mail, nor
    the mail server used as a cannon."""

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        if not ratelimit.consume(self.request, action="reset_password", key=email):
            form.add_error(None, get_adapter(self.request).error_messages["rate_limited"])
            return self.form_invalid(form)
        return super().form_valid(form)


login = LoginView.as_view()
signup = SignupView.as_view()
password_reset = PasswordResetView.as_view()
