"""What a video costs, as the generate and batch forms show it on their
submit buttons. Built from the price rows operators edit, so a new model or
resolution priced in admin shows up on the button without a code change."""

from billing.selectors import price_table

from .words import MODEL_NAMES

# Price rows for resolutions a request may ask for up front, priced on top
# of the model (none yet: the `resolution` field arrives with the Veo 3.1
# offer, which lists its price codes here). Upgrades of a finished video
# ("1080p") are not part of the form's cost.
RESOLUTION_CODES: tuple[str, ...] = ()


def cost_table() -> dict:
    """{"models": {code: credits}, "resolutions": {code: credits}} for the
    form's script; a model is any price row named like a model."""
    prices = price_table()
    models = {code: p.credits for code, p in prices.items() if code in MODEL_NAMES or code.startswith("veo")}
    resolutions = {code: p.credits for code, p in prices.items() if code in RESOLUTION_CODES}
    return {"models": models, "resolutions": resolutions}


def cost_of(table: dict, *, model: str, resolution: str = "", count: int = 1) -> int:
    """The same sum the script makes, for the first render."""
    return (table["models"].get(model, 0) + table["resolutions"].get(resolution, 0)) * count
