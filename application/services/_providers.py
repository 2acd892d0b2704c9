"""Which provider names this instance accepts for credentials and alias targets.

The domain knows four providers; a running instance may offer more (the adapters' ``fake``
demo provider, outside production) or fewer. The set is given at startup by the
composition root, from the provider clients the instance was built with.
"""

from collections.abc import Iterable

from application.errors import ProviderNotOfferedError
from domain.catalog import Provider, ProviderName


class OfferedProviders:
    """Rule: a credential or an alias target may only name a provider offered here;
    anything else is refused (422 ``provider_not_offered``) before it is written."""

    def __init__(self, names: Iterable[ProviderName] | None) -> None:
        """``names`` None accepts every name (use cases built without a provider set: tests)."""
        self._names = None if names is None else frozenset(names)

    def __contains__(self, name: object) -> bool:
        return self._names is None or name in self._names

    def names(self) -> tuple[ProviderName, ...]:
        """What may be chosen: the domain's providers in their order, then any others offered."""
        known = tuple(p.value for p in Provider if p.value in self)
        extra = () if self._names is None else tuple(sorted(self._names - set(known)))
        return (*known, *extra)

    def require(self, name: ProviderName) -> ProviderName:
        if self._names is not None and name not in self._names:
            offered = ", ".join(sorted(self._names))
            raise ProviderNotOfferedError(f"provider {name!r} is not offered by this instance (offered: {offered})")
        return name


EVERY_PROVIDER = OfferedProviders(None)
