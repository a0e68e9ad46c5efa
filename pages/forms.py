from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from videos.forms import ErrorSummary


class AccountForm(ErrorSummary, forms.Form):
    first_name = forms.CharField(required=False, max_length=150, label=_("First name"))
    last_name = forms.CharField(required=False, max_length=150, label=_("Last name"))
    email = forms.EmailField(
        required=False,
        label=_("Email"),
        error_messages={"invalid": _("Enter a valid email address, like name@example.com.")},
    )
    language = forms.ChoiceField(
        required=False,
        label=_("Language"),
        choices=[("", _("As my browser says"))] + list(settings.LANGUAGES),
    )
    notice_email = forms.BooleanField(required=False, label=_("Email me when a video is ready or fails"))

    def __init__(self, *args, email_editable: bool = True, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not email_editable:
            del self.fields["email"]
