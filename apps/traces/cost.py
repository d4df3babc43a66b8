"""What a span cost: its tokens at the prices the team set on its model providers."""

from __future__ import annotations

from decimal import Decimal

from apps.core.memo import Remembered
from apps.llm.models import ProviderConfig

# Ingestion costs every span at the team's prices; reading them is a query per export
# otherwise. Remembered per process for a few seconds, forgotten at once in this process
# when a provider changes (forget_changed_provider, connected in TracesConfig.ready):
# a span another process stores within PRICES_CACHE_SECONDS of a price change is costed
# at the old prices.
PRICES_CACHE_SECONDS = 5.0
_remembered: Remembered[dict] = Remembered(PRICES_CACHE_SECONDS)


def team_prices(team) -> dict:
    """{model: {input, output}} per million tokens, merged over the team's providers."""
    prices = _remembered.get(team.pk)
    if prices is None:
        prices = _read_prices(team)
        _remembered.put(team.pk, prices)
    return prices


def forget_changed_provider(sender, instance, **kwargs) -> None:
    """post_save / post_delete receiver on ProviderConfig: the next export reads afresh."""
    _remembered.forget_key(instance.team_id)


def reset() -> None:
    """Forget every remembered price list (tests)."""
    _remembered.clear()


def _read_prices(team) -> dict:
    prices: dict = {}
    # Ingestion names its team explicitly (the API key's), whatever scope it is called in.
    entries = ProviderConfig.objects.unscoped().filter(team=team).values_list("prices", flat=True)
    for entry in entries:
        if isinstance(entry, dict):
            for model, price in entry.items():
                if isinstance(price, dict):
                    prices.setdefault(model, price)
    return prices


def span_cost(prices: dict, model: str, input_tokens, output_tokens) -> Decimal | None:
    price = prices.get(model) if model else None
    if price is None or (input_tokens is None and output_tokens is None):
        return None
    try:
        per_million = Decimal(str(price.get("input", 0) or 0)) * (input_tokens or 0) + Decimal(
            str(price.get("output", 0) or 0)
        ) * (output_tokens or 0)
    except (ArithmeticError, ValueError, TypeError):
        return None
    return (per_million / Decimal(1_000_000)).quantize(Decimal("0.00000001"))
