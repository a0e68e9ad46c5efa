"""allauth's forms under the contract's field names."""

from allauth.account.adapter import get_adapter
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class LoginForm(AllauthLoginForm):
    """allauth's login (username or email, failed-login throttle) with the
    field posted as `username`, as Django's login form and the tools that
    drive this app name it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        login = self.fields["login"]
        login.label = _("Username or email")
        # allauth leaves it unbounded; a 100,000-character login would reach
        # the database as a LIKE pattern SQLite refuses (a 500).
        login.max_length = 254
        login.validators.append(MaxLengthValidator(254))
        login.widget.attrs["maxlength"] = "254"

    def add_prefix(self, field_name: str) -> str:
        return super().add_prefix("username" if field_name == "login" else field_name)


class SignupForm(AllauthSignupForm):
    """Fields username, email, password1, password2 (ACCOUNT_SIGNUP_FIELDS)."""

    def clean(self):
        cleaned = super().clean()
        typed = [self.data.get(self.add_prefix(name)) for name in ("password1", "password2")]
        if "password2" in self.errors and typed[0] != typed[1]:
            # Django's wording (and translation) for the same rule.
            self.errors["password2"] = self.error_class([gettext("The two password fields didn’t match.")])
        return cleaned


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login under the same failed-login throttle as the site
    (per account and per address): Django's admin would otherwise take any
    number of guesses."""

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            # Raises ValidationError("Too many failed login attempts…") when throttled.
            self.user_cache = get_adapter(self.request).authenticate(self.request, username=username, password=password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
