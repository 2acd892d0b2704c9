"""Planning a LiteLLM import: providers, keys from the environment, exact per-token costs."""

from decimal import Decimal

import yaml

from application.services.litellm_import import plan_import
from domain.catalog import Provider
from domain.pricing import PriceSheet

CONFIG = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY_2
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-ant-literal-key-0001
      input_cost_per_token: 0.000003
      output_cost_per_token: 0.000015
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
  - model_name: azure-gpt
    litellm_params:
      model: azure/my-deployment
      api_key: os.environ/AZURE_KEY
  - model_name: mystery
    litellm_params:
      model: openai/some-private-finetune
"""


class Catalog:
    def provider_prices(self, provider: Provider, model: str) -> PriceSheet | None:
        known = {
            (Provider.OPENAI, "gpt-4o"): PriceSheet(input_per_million=Decimal("2.5"), output_per_million=Decimal("10")),
            (Provider.GEMINI, "gemini-2.5-flash"): PriceSheet(
                input_per_million=Decimal("0.3"), output_per_million=Decimal("2.5")
            ),
        }
        return known.get((provider, model))


ENV = {"OPENAI_API_KEY": "sk-openai-one", "OPENAI_API_KEY_2": "sk-openai-two", "FIREWORKS_API_KEY": "fw-key"}


def test_realistic_config_with_several_providers() -> None:
    plan = plan_import(yaml.safe_load(CONFIG), ENV, Catalog())
    by_alias = {a.alias: a for a in plan.aliases}
    assert sorted(by_alias) == ["claude-sonnet", "flash", "gpt-4o", "llama"]
    assert by_alias["claude-sonnet"].provider is Provider.ANTHROPIC
    assert by_alias["claude-sonnet"].provider_costs.input_per_million == Decimal("3")
    assert by_alias["claude-sonnet"].provider_costs.output_per_million == Decimal("15")
    assert by_alias["claude-sonnet"].access_groups == ("premium",)
    assert by_alias["llama"].provider_model == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert by_alias["llama"].provider_costs.input_per_million == Decimal("0.2")
    assert by_alias["gpt-4o"].provider_costs.input_per_million == Decimal("2.5")  # from the catalog
    creds = {(c.provider, c.api_key, c.api_base) for c in plan.credentials}
    assert creds == {
        (Provider.OPENAI, "sk-openai-one", None),
        (Provider.OPENAI, "sk-openai-two", None),
        (Provider.ANTHROPIC, "sk-ant-literal-key-0001", None),
        (Provider.FIREWORKS, "fw-key", "https://api.fireworks.ai/inference/v1"),
    }
    reasons = {s.item: s.reason for s in plan.skipped}
    assert "GEMINI_API_KEY is not set" in reasons["flash credential"]
    assert "not supported" in reasons["azure-gpt"]
    assert "unknown model price" in reasons["mystery"]
    assert "imported first" in reasons["gpt-4o"]
    assert "sk-openai-one" not in repr(plan.credentials)


def test_missing_model_list_is_reported() -> None:
    plan = plan_import({"general_settings": {}}, {}, Catalog())
    assert plan.aliases == [] and plan.skipped[0].reason == "no model_list found"
