-- Routing (issue 12): an alias's further targets, its routing strategy and its response
-- cache; calls answered from that cache are flagged.
ALTER TABLE model_aliases
    ADD COLUMN routing text NOT NULL DEFAULT 'ordered' CHECK (routing IN ('ordered', 'cheapest')),
    ADD COLUMN cache_ttl_s integer CHECK (cache_ttl_s BETWEEN 1 AND 2592000),
    ADD COLUMN cached_response_price_factor numeric NOT NULL DEFAULT 1
        CHECK (cached_response_price_factor >= 0 AND cached_response_price_factor <= 10);

-- The alias's targets after its primary one (the alias row's own provider and prices),
-- position 1, 2, ...; read with the alias, so a call never looks them up on its own.
CREATE TABLE alias_targets (
    alias                              text NOT NULL REFERENCES model_aliases (alias) ON DELETE CASCADE ON UPDATE CASCADE,
    position                           integer NOT NULL CHECK (position >= 1),
    provider                           text NOT NULL
                                       CHECK (provider IN ('openai', 'anthropic', 'gemini', 'fireworks', 'fake')),
    provider_model                     text NOT NULL CHECK (provider_model <> ''),
    customer_input_per_million         numeric NOT NULL CHECK (customer_input_per_million >= 0),
    customer_output_per_million        numeric NOT NULL CHECK (customer_output_per_million >= 0),
    customer_cached_input_per_million  numeric CHECK (customer_cached_input_per_million >= 0),
    customer_cache_write_per_million   numeric CHECK (customer_cache_write_per_million >= 0),
    customer_reasoning_per_million     numeric CHECK (customer_reasoning_per_million >= 0),
    provider_input_per_million         numeric NOT NULL CHECK (provider_input_per_million >= 0),
    provider_output_per_million        numeric NOT NULL CHECK (provider_output_per_million >= 0),
    provider_cached_input_per_million  numeric CHECK (provider_cached_input_per_million >= 0),
    provider_cache_write_per_million   numeric CHECK (provider_cache_write_per_million >= 0),
    provider_reasoning_per_million     numeric CHECK (provider_reasoning_per_million >= 0),
    PRIMARY KEY (alias, position)
);

ALTER TABLE llm_calls ADD COLUMN cached boolean NOT NULL DEFAULT false;

-- An alias's targets are cached with it: a change is announced like one of the alias (0008).
CREATE TRIGGER alias_targets_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alias_targets
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();
