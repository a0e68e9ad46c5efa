"""Sign-up attempts, counted per client address to throttle mass sign-ups."""

from django.db import models


class SignupAttempt(models.Model):
    """One POST to the sign-up form, accepted or refused. Kept an hour (plus
    slack); the throttle counts rows, so it holds across web processes
    without a shared cache."""

    address = models.CharField(max_length=64, help_text="Client address (IPv6 cut to its /64 network).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["address", "created_at"], name="signup_attempt_recent")]

    def __str__(self) -> str:
        return f"{self.address} at {self.created_at:%Y-%m-%d %H:%M:%S}"
