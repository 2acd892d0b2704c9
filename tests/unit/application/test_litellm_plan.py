"""Planning a LiteLLM import: what maps where, and every setting left out with its reason."""

from decimal import Decimal

import yaml

from application.services.litellm_plan import ImportPlan, plan_import
from domain.catalog import Provider
from domain.pricing import PriceSheet
from domain.rate_limits import RateLimits
from domain.routing import RoutingStrategy

D = Decimal

CONFIG = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      rpm: 480
      tpm: 100000
      timeout: 30
    model_info:
      id: gpt-4o-eu
  - model_name: gpt-4o            # LiteLLM balances between the two
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY_2
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-ant-literal-key-0001
      input_cost_per_token: 0.000003
      output_cost_per_token: 0.000015
      max_tokens: 8192
    model_info:
      access_groups: [premium]
  - model_name: llama
    litellm_params:
      model: fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct
      api_key: os.environ/FIREWORKS_API_KEY
      api_base: https://api.fireworks.ai/inference/v1/
      input_cost_per_token: 2e-07
      output_cost_per_token: 2e-07
  - model_name: flash
    litellm_params:
      model: gemini/gemini-2.5-flash
      api_key: os.environ/GEMINI_API_KEY
  - model_name: in-house
    litellm_params:
      model: openai/our-finetune
      api_base: https://llm.internal.example/v1
      api_key: sk-inline-0002
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
  - model_name: azure-gpt
    litellm_params:
      model: azure/my-deployment
      api_key: os.environ/AZURE_KEY
  - model_name: mystery
    litellm_params:
      model: openai/some-private-finetune
  - model_name: embedder
    litellm_params:
      model: openai/text-embedding-3-small
    model_info:
      mode: embedding
litellm_settings:
  num_retries: 3
  drop_params: true
  fallbacks:
    - gpt-4o: [claude-sonnet, flash]
    - claude-sonnet: [nowhere]
  context_window_fallbacks:
    - gpt-4o: [claude-sonnet]
  default_key_generate_params:
    rpm_limit: 120
    tpm_limit: 50000
    max_budget: 10
router_settings:
  routing_strategy: usage-based-routing
  cooldown_time: 30
general_settings:
  master_key: sk-1234
environment_variables:
  FIREWORKS_API_KEY: fw-key-from-config
"""


class Catalog:
    def provider_prices(self, provider: Provider, model: str) -> PriceSheet | None:
        known = {
            (Provider.OPENAI, "gpt-4o"): PriceSheet(
                input_per_million=D("2.5"), output_per_million=D("10"), cached_input_per_million=D("1.25")
            ),
        }
        return known.get((provider, model))


ENV = {"OPENAI_API_KEY": "sk-openai-one", "OPENAI_API_KEY_2": "sk-openai-two"}


def plan(**kw: object) -> ImportPlan:
    return plan_import(yaml.safe_load(CONFIG), ENV, Catalog(), **kw)  # type: ignore[arg-type]


def reasons(found: ImportPlan) -> dict[str, tuple[str, bool]]:
    return {s.item: (s.reason, s.error) for s in found.skipped}


def test_deployments_of_one_name_become_one_alias_with_ordered_targets() -> None:
    found = plan()
    by_alias = {a.alias: a for a in found.aliases}
    assert sorted(by_alias) == ["claude-sonnet", "gpt-4o", "llama"]
    gpt = by_alias["gpt-4o"]
    assert [(t.label, t.provider, t.provider_model) for t in gpt.targets] == [
        ("gpt-4o (deployment 2)", Provider.OPENAI, "gpt-4o")
    ]
    assert gpt.routing is RoutingStrategy.ORDERED and gpt.fallbacks == ("claude-sonnet",)
    assert gpt.access_groups == ("litellm-import",)
    assert by_alias["claude-sonnet"].access_groups == ("premium",) and by_alias["claude-sonnet"].max_tokens == 8192
    assert by_alias["llama"].provider_model == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert by_alias["llama"].provider_costs == PriceSheet(input_per_million=D("0.2"), output_per_million=D("0.2"))
    assert any(n.item == "gpt-4o" and "one alias 'gpt-4o' with 2 targets" in n.message for n in found.notes)
    # The second key of the same provider and endpoint is not stored (one key per provider).
    assert any(n.item == "gpt-4o (deployment 2)" and "not stored" in n.message for n in found.notes)


def test_one_credential_per_provider_only_for_what_is_imported() -> None:
    creds = {(c.provider, c.api_key, c.api_base) for c in plan().credentials}
    assert creds == {
        (Provider.OPENAI, "sk-openai-one", None),
        (Provider.ANTHROPIC, "sk-ant-literal-key-0001", None),
        (Provider.FIREWORKS, "fw-key-from-config", "https://api.fireworks.ai/inference/v1"),  # environment_variables
    }  # no gemini (its key is missing), no azure, nothing from the in-house endpoint
    assert "sk-openai-one" not in repr(plan().credentials)


def test_errors_are_flagged_and_unmodelled_settings_are_not() -> None:
    found = reasons(plan())
    errors = {item for item, (_, error) in found.items() if error}
    assert errors == {
        "flash",  # GEMINI_API_KEY is not set
        "in-house",  # a second openai endpoint
        "azure-gpt",
        "mystery",
        "embedder",
        "litellm_settings.fallbacks gpt-4o",  # flash was not imported
        "litellm_settings.fallbacks claude-sonnet",  # nowhere is no model_name
    }
    assert "GEMINI_API_KEY, which is not set" in found["flash"][0]
    assert "one endpoint per provider" in found["in-house"][0]
    assert "not supported" in found["azure-gpt"][0]
    assert "unknown model price" in found["mystery"][0]
    assert "only chat models" in found["embedder"][0]
    assert "'flash' was not imported" in found["litellm_settings.fallbacks gpt-4o"][0]
    assert "per team" in found["gpt-4o (deployment 1) litellm_params.rpm"][0]
    assert "PROVIDER_TIMEOUT_S" in found["gpt-4o (deployment 1) litellm_params.timeout"][0]
    assert "deployment ids" in found["gpt-4o (deployment 1) model_info.id"][0]
    assert "PROVIDER_MAX_RETRIES" in found["litellm_settings.num_retries"][0]
    assert "refused by name" in found["litellm_settings.drop_params"][0]
    assert "only fallbacks on errors" in found["litellm_settings.context_window_fallbacks"][0]
    assert "in order" in found["router_settings.routing_strategy"][0]
    assert "circuit breaker" in found["router_settings.cooldown_time"][0]
    assert "master key" in found["general_settings.master_key"][0]
    assert "litellm_settings.default_key_generate_params.max_budget" in found
    assert "environment_variables" in found


def test_per_key_limits_map_onto_team_limits() -> None:
    assert plan().team_limits == RateLimits(requests_per_minute=120, tokens_per_minute=50_000)


def test_customer_prices_from_a_markup_or_explicit_prices_else_zero_margin() -> None:
    zero = {a.alias: a for a in plan().aliases}
    assert all(a.zero_margin for a in zero.values())
    marked = {a.alias: a for a in plan(markup=D("0.3")).aliases}
    assert marked["gpt-4o"].customer_prices == PriceSheet(
        input_per_million=D("3.25"), output_per_million=D("13"), cached_input_per_million=D("1.625")
    )
    assert not marked["gpt-4o"].zero_margin
    explicit = plan(
        markup=D("0.3"), prices={"claude-sonnet": {"input_price_per_million": 4, "output_price_per_million": "20"}}
    )
    by_alias = {a.alias: a for a in explicit.aliases}
    assert by_alias["claude-sonnet"].customer_prices == PriceSheet(input_per_million=D(4), output_per_million=D(20))
    assert by_alias["llama"].customer_prices.input_per_million == D("0.26")  # the markup for the others
    wrong = reasons(plan(prices={"nope": {}, "llama": {"input_price_per_million": 1}}))
    assert wrong["prices nope"][1] and wrong["prices llama"][1]


def test_a_first_deployment_that_cannot_be_imported_hands_the_name_to_the_next() -> None:
    config = {
        "model_list": [
            {"model_name": "m", "litellm_params": {"model": "azure/x"}},
            {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k"}},
        ]
    }
    found = plan_import(config, {}, Catalog())
    assert [a.alias for a in found.aliases] == ["m"] and found.aliases[0].access_groups == ("litellm-import",)


def test_missing_model_list_is_an_error() -> None:
    found = plan_import({"general_settings": {}}, {}, Catalog())
    assert found.aliases == [] and found.skipped[0].reason == "no model_list found" and found.skipped[0].error


def test_cost_based_routing_maps_to_cheapest_and_other_strategies_are_reported() -> None:
    config = yaml.safe_load(CONFIG)
    config["router_settings"]["routing_strategy"] = "cost-based-routing"
    found = plan_import(config, ENV, Catalog())  # type: ignore[arg-type]
    gpt = next(a for a in found.aliases if a.alias == "gpt-4o")
    assert gpt.routing is RoutingStrategy.CHEAPEST
    assert "router_settings.routing_strategy" not in reasons(found)
    assert "'usage-based-routing' is not built" in reasons(plan())["router_settings.routing_strategy"][0]
