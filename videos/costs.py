"""What a video costs, as the generate and batch forms show it on their
submit buttons. Built from the price rows operators edit, so a new model or
resolution priced in admin shows up on the button without a code change."""

from billing.selectors import price_table

from .words import MODEL_NAMES


def cost_table() -> dict:
    """{"models": {code: credits at 720p}, "grid": {model: {resolution:
    credits}}} for the form's script: a request costs its model's price at
    its resolution. Upgrades of a finished video ("1080p", "4k") are not part
    of the form's cost."""
    prices = price_table().values()
    grid: dict[str, dict[str, int]] = {}
    for p in prices:
        if p.model:
            grid.setdefault(p.model, {})[p.resolution] = p.credits
    models = {model: cells["720p"] for model, cells in grid.items() if "720p" in cells}
    models.update({p.code: p.credits for p in prices if not p.model and p.code in MODEL_NAMES})
    return {"models": models, "grid": grid}


def cost_of(table: dict, *, model: str, resolution: str = "", count: int = 1) -> int:
    """The same sum the script makes, for the first render."""
    cell = table.get("grid", {}).get(model, {}).get(resolution or "720p")
    if cell is not None:
        return cell * count
    return table["models"].get(model, 0) * count
