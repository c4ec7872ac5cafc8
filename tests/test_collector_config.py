"""The collector kit (collector-config/) checked without any of its binaries: every file
parses, the collector's pipelines are complete, the dashboard asks Prometheus and Tempo
only for names this project emits, and the files agree on hosts, ports and paths.

Names come from the code (`otel_token_usage.semconv`), never
retyped here.  The stack itself runs only under `docker compose up`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from otel_token_usage import semconv as a
from otel_token_usage import semconv as m
from otel_token_usage.semconv import is_inference

KIT = Path(__file__).resolve().parent.parent / "collector-config"
DASHBOARD = KIT / "grafana" / "dashboards" / "token-usage.json"
PIPELINE_TYPES = {"traces", "metrics", "logs"}
# Component types as otelcol-contrib 0.159.0 names them, and the deprecated aliases it
# still accepts (a new config should not use those).
DEPRECATED_TYPES = {"otlphttp", "signaltometrics", "deltatocumulative", "filelog"}
DEPRECATED_EXPORTER_TYPES = {"otlp"}  # the exporter is `otlp_grpc` now; the receiver stays `otlp`
# Tempo's span-metrics series (documented names, already in Prometheus form) and the
# labels Tempo always adds to them; the configured dimensions come from tempo.yaml.
TEMPO_SPAN_METRICS = {
    "traces_spanmetrics_latency_bucket",
    "traces_spanmetrics_latency_sum",
    "traces_spanmetrics_latency_count",
    "traces_spanmetrics_calls_total",
}
TEMPO_INTRINSIC_LABELS = {"service", "span_name", "span_kind", "status_code", "le"}
DERIVED_SOURCES = {  # derived metric -> the exporter's read order for the same field
    "token_usage.span.input_tokens": a.READ_INPUT,
    "token_usage.span.output_tokens": a.READ_OUTPUT,
    "token_usage.span.cache_read.input_tokens": a.READ_CACHE_READ,
    "token_usage.span.cache_write.input_tokens": a.READ_CACHE_WRITE,
    "token_usage.span.reasoning.output_tokens": a.READ_REASONING,
}


def load_yaml(relative: str) -> dict[str, Any]:
    """One YAML file of the kit, which must be a mapping."""
    loaded = yaml.safe_load((KIT / relative).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), relative
    return loaded


# --- Prometheus' OTLP name translation -------------------------------------------------

_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": "", "%": "percent"}
_PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The name Prometheus gives an OTLP metric under `translation_strategy:
    UnderscoreEscapingWithSuffixes` (prometheus.yaml), for `kind` counter (a monotonic
    sum), histogram (the base name; Prometheus appends _bucket/_sum/_count) or gauge.

    The name is split at every character that is not a letter, digit or colon and joined
    with `_`; the unit adds a suffix unless it is empty or an annotation in braces
    (`{token}`), common UCUM units become words (`s` -> seconds) and any other unit stays
    as written (`USD`); `a/b` adds `_per_<b>`; a counter ends in `_total`.  This is
    Prometheus' documented behaviour (otlptranslator's metric namer), restated for the
    units this project and its kit use."""
    tokens = [token for token in re.split(r"[^A-Za-z0-9:]+", name) if token]
    main, _, per = (part.strip() for part in unit.partition("/"))
    if main and not set("{}") & set(main):
        word = "_".join(t for t in re.split(r"[^A-Za-z0-9:]+", _UNIT_WORDS.get(main, main)) if t)
        if word and word not in tokens:
            tokens.append(word)
    if per and not set("{}") & set(per):
        word = "per_" + _PER_UNIT_WORDS.get(per, per)
        if word not in tokens:
            tokens.append(word)
    if kind == "counter":
        tokens = [token for token in tokens if token != "total"] + ["total"]
    if kind == "gauge" and unit == "1":
        tokens = [token for token in tokens if token != "ratio"] + ["ratio"]
    joined = "_".join(tokens)
    return "_" + joined if joined[:1].isdigit() else joined


def prometheus_label(key: str) -> str:
    """An attribute key as a Prometheus label: every character that is not a letter,
    digit or underscore becomes `_`; a leading digit gets `key_` in front."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return "key_" + label if label[:1].isdigit() else label


def families(name: str, unit: str, kind: str) -> set[str]:
    """The Prometheus series names one OTLP metric becomes."""
    base = prometheus_name(name, unit, kind)
    return (
        {base + suffix for suffix in ("_bucket", "_sum", "_count")}
        if kind == "histogram"
        else {base}
    )


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("http.server.duration", "s", "histogram", "http_server_duration_seconds"),
        ("requests.count", "1", "counter", "requests_count_total"),
        ("memory.usage", "By", "gauge", "memory_usage_bytes"),
        (m.COST, m.COST_UNIT, "counter", "token_usage_client_inference_cost_USD_total"),
        (
            m.INPUT_TOKENS,
            m.TOKEN_UNIT,
            "counter",
            "gen_ai_client_inference_usage_input_tokens_total",
        ),
        (m.TOKEN_USAGE, m.TOKEN_UNIT, "histogram", "gen_ai_client_token_usage"),
    ],
)
def test_translation_follows_prometheus(name: str, unit: str, kind: str, expected: str) -> None:
    """The translation reproduces Prometheus' documented examples and our metrics' names."""
    assert prometheus_name(name, unit, kind) == expected


# --- a subset of OTTL conditions, to run the collector's conditions against the code ---

_OTTL_TOKEN = re.compile(
    r'\s*(\(|\)|==|!=|\b(?:and|or|not|nil)\b|"(?:[^"\\]|\\.)*"|span\.attributes\["[^"]*"\]|-?\d+)'
)


def ottl(condition: str, attrs: Mapping[str, object]) -> bool:
    """Evaluates an OTTL condition made of `span.attributes["k"]`, string, int and `nil`
    values, `==`, `!=`, `not`, `and`, `or` and parentheses (OTTL's precedence: not, and,
    or).  Anything else raises ValueError: the kit would be using syntax this test
    cannot judge."""
    tokens: list[str] = []
    pos = 0
    while pos < len(condition.rstrip()):
        match = _OTTL_TOKEN.match(condition, pos)
        if match is None:
            raise ValueError(f"unsupported OTTL at {condition[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    result, used = _or(tokens, 0, attrs)
    if used != len(tokens):
        raise ValueError(f"trailing OTTL {tokens[used:]!r}")
    return result


def _or(t: list[str], i: int, attrs: Mapping[str, object]) -> tuple[bool, int]:
    value, i = _and(t, i, attrs)
    while i < len(t) and t[i] == "or":
        right, i = _and(t, i + 1, attrs)
        value = value or right
    return value, i


def _and(t: list[str], i: int, attrs: Mapping[str, object]) -> tuple[bool, int]:
    value, i = _not(t, i, attrs)
    while i < len(t) and t[i] == "and":
        right, i = _not(t, i + 1, attrs)
        value = value and right
    return value, i


def _not(t: list[str], i: int, attrs: Mapping[str, object]) -> tuple[bool, int]:
    if t[i] == "not":
        value, i = _not(t, i + 1, attrs)
        return not value, i
    if t[i] == "(":
        value, i = _or(t, i + 1, attrs)
        if t[i] != ")":
            raise ValueError(f"expected ) at {t[i:]!r}")
        return value, i + 1
    left, op, right = _operand(t[i], attrs), t[i + 1], _operand(t[i + 2], attrs)
    if op not in ("==", "!="):
        raise ValueError(f"unsupported comparison {op!r}")
    return (left == right) == (op == "=="), i + 3


def _operand(token: str, attrs: Mapping[str, object]) -> object:
    if token == "nil":
        return None
    if token.startswith('"'):
        return json.loads(token)
    if token.startswith("span.attributes"):
        return attrs.get(json.loads(token[len("span.attributes[") : -1]))
    return int(token)


# --- the collector ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def otelcol() -> dict[str, Any]:
    """The collector configuration."""
    return load_yaml("otelcol.yaml")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file."""
    return load_yaml("docker-compose.yaml")


def pipelines(otelcol: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Pipeline id -> its receivers, processors and exporters."""
    found = otelcol["service"]["pipelines"]
    assert isinstance(found, dict)
    return found


def test_every_file_parses() -> None:
    """Every YAML and JSON file of the kit parses."""
    files = sorted(KIT.rglob("*.yaml")) + sorted(KIT.rglob("*.json"))
    assert len(files) >= 7
    for path in files:
        text = path.read_text(encoding="utf-8")
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        assert isinstance(loaded, dict), path


def test_pipelines_name_only_defined_components_and_use_all(otelcol: dict[str, Any]) -> None:
    """Every component a pipeline names is defined, every defined one is used, connectors
    join two pipelines, and no component uses a name 0.159.0 only keeps as an alias."""
    used: dict[str, set[str]] = {kind: set() for kind in ("receivers", "processors", "exporters")}
    connectors = set(otelcol.get("connectors", {}))
    as_exporter: set[str] = set()
    as_receiver: set[str] = set()
    for name, pipeline in pipelines(otelcol).items():
        assert name.split("/")[0] in PIPELINE_TYPES, name
        assert pipeline["receivers"] and pipeline["exporters"], name
        processors = pipeline.get("processors", [])
        assert processors[0] == "memory_limiter" and processors[-1] == "batch", name
        for kind, names in used.items():
            for component in pipeline.get(kind, []):
                assert component in otelcol[kind] or component in connectors, (name, component)
                names.add(component)
        as_receiver |= set(pipeline["receivers"]) & connectors
        as_exporter |= set(pipeline["exporters"]) & connectors
    for kind, names in used.items():
        assert set(otelcol[kind]) == names - connectors, kind
    assert connectors == as_exporter == as_receiver
    for section in ("receivers", "processors", "exporters", "connectors"):
        for component in otelcol.get(section, {}):
            assert component.split("/")[0] not in DEPRECATED_TYPES, component
    assert not {e.split("/")[0] for e in otelcol["exporters"]} & DEPRECATED_EXPORTER_TYPES


def test_llm_filter_keeps_exactly_what_the_extractor_calls_inference(
    otelcol: dict[str, Any],
) -> None:
    """The file pipeline's filter drops a span exactly when `extract.is_inference` says it
    is not one model call, for every mix of the attributes that decide it."""
    conditions = otelcol["processors"]["filter/llm_spans"]["trace_conditions"]
    operations = [*sorted(a.INFERENCE_OPERATIONS), *sorted(a.AGGREGATE_OPERATIONS), None]
    kinds = [a.OPENINFERENCE_LLM_KIND, "CHAIN", None]
    request_types = [*sorted(a.OPENLLMETRY_REQUEST_TYPES), "rerank", None]
    span_kinds = [*sorted(a.OPENLLMETRY_AGGREGATE_KINDS), None]
    keys = (
        a.GEN_AI_OPERATION_NAME,
        a.OPENINFERENCE_SPAN_KIND,
        a.OPENLLMETRY_REQUEST_TYPE,
        a.OPENLLMETRY_SPAN_KIND,
    )
    for values in itertools.product(operations, kinds, request_types, span_kinds):
        attrs = {key: value for key, value in zip(keys, values, strict=True) if value is not None}
        kept = not any(ottl(condition, attrs) for condition in conditions)
        assert kept == is_inference(attrs), attrs
    assert "filter/llm_spans" in pipelines(otelcol)["traces/llm"]["processors"]


def derived_metrics(otelcol: dict[str, Any]) -> list[dict[str, Any]]:
    """The span metric definitions of the signal_to_metrics connector, in order."""
    spans = otelcol["connectors"]["signal_to_metrics"]["spans"]
    assert isinstance(spans, list)
    return spans


def test_derived_sums_read_attributes_in_the_exporters_order(otelcol: dict[str, Any]) -> None:
    """Each derived token sum takes, per span, the first attribute present in the order
    the exporter reads that field (attributes.READ_*), and exactly one definition fires."""
    for name, order in DERIVED_SOURCES.items():
        definitions = [d for d in derived_metrics(otelcol) if d["name"] == name]
        sources = [
            re.fullmatch(r'Int\(span\.attributes\["(.+)"\]\)', d["sum"]["value"])
            for d in definitions
        ]
        assert [s.group(1) if s else None for s in sources] == list(order), name
        for present in itertools.product([False, True], repeat=len(order)):
            attrs = {key: 7 for key, here in zip(order, present, strict=True) if here}
            fired = [
                source
                for source, definition in zip(order, definitions, strict=True)
                if any(ottl(c, attrs) for c in definition["conditions"])
            ]
            assert fired == ([order[present.index(True)]] if any(present) else []), attrs


def test_derived_metrics_do_not_collide_and_carry_our_attributes(
    otelcol: dict[str, Any],
) -> None:
    """Derived metrics are monotonic sums with the exporter's attribute keys, one unit
    and description per name, under names (OTLP and Prometheus) the exporter never uses."""
    ours = {m.TOKEN_USAGE, m.COST, *m.COUNTERS}
    ours_prometheus = set().union(*exported_families().values())
    by_name: dict[str, set[tuple[str, str]]] = {}
    for definition in derived_metrics(otelcol):
        assert definition["sum"]["monotonic"] is True
        assert [attr["key"] for attr in definition["attributes"]] == list(m.METRIC_ATTRIBUTES)
        assert all(attr["optional"] for attr in definition["attributes"])
        by_name.setdefault(definition["name"], set()).add(
            (definition["unit"], definition["description"])
        )
        assert definition["name"] not in ours
        assert not families(definition["name"], definition["unit"], "counter") & ours_prometheus
    assert all(len(variants) == 1 for variants in by_name.values()), by_name
    assert set(DERIVED_SOURCES) < set(by_name)


def test_content_and_session_id_are_handled_before_traces_leave(otelcol: dict[str, Any]) -> None:
    """Message content is dropped in every traces pipeline; the conversation id is hashed
    or dropped on the way to Tempo but kept for the local file `token-usage ingest` reads."""
    processors = otelcol["processors"]
    groups = processors["transform/drop_content"]["trace_statements"]
    content = " ".join(statement for group in groups for statement in group["statements"])
    for attribute in (
        a.GEN_AI_INPUT_MESSAGES,
        a.GEN_AI_OUTPUT_MESSAGES,
        a.GEN_AI_SYSTEM_INSTRUCTIONS,
    ):
        assert f'delete_key(span.attributes, "{attribute}")' in content
        assert f'delete_key(spanevent.attributes, "{attribute}")' in content
    session = " ".join(processors["transform/conversation_id"]["trace_statements"][0]["statements"])
    salted = '["${env:CONVERSATION_ID_SALT}", span.attributes["' + a.GEN_AI_CONVERSATION_ID + '"]]'
    assert f"SHA256(Concat({salted}" in session
    assert f'delete_key(span.attributes, "{a.GEN_AI_CONVERSATION_ID}")' in session
    assert "${env:CONVERSATION_ID_POLICY:-hash}" in session
    for name, pipeline in pipelines(otelcol).items():
        if name.split("/")[0] != "traces":
            continue
        assert "transform/drop_content" in pipeline["processors"], name
        leaves = any(e.startswith("otlp") for e in pipeline["exporters"])
        assert ("transform/conversation_id" in pipeline["processors"]) == leaves, name
    assert "file/llm" in pipelines(otelcol)["traces/llm"]["exporters"]


# --- hosts, ports and paths ------------------------------------------------------------


def host_port(endpoint: str) -> tuple[str, int, str]:
    """(host, port, path) of a URL or a bare host:port."""
    parts = urlsplit(endpoint if "//" in endpoint else "//" + endpoint)
    assert parts.hostname is not None and parts.port is not None, endpoint
    return parts.hostname, parts.port, parts.path


def mounts(compose: dict[str, Any], service: str) -> dict[str, str]:
    """Container path -> host source of one service's volumes."""
    found = {}
    for volume in compose["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def test_endpoints_agree_across_files(otelcol: dict[str, Any], compose: dict[str, Any]) -> None:
    """Collector -> Tempo and -> Prometheus, Tempo -> Prometheus, Prometheus -> its scrape
    targets and Grafana -> both land on a compose service, on the port and path it serves."""
    services = compose["services"]
    tempo, prometheus = load_yaml("tempo.yaml"), load_yaml("prometheus.yaml")
    tempo_grpc = host_port(
        tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    )
    tempo_http_port = tempo["server"]["http_listen_port"]
    assert host_port(otelcol["exporters"]["otlp_grpc/tempo"]["endpoint"])[:2] == (
        "tempo",
        tempo_grpc[1],
    )
    prom_flags = services["prometheus"]["command"]
    assert "--web.enable-otlp-receiver" in prom_flags
    assert "--web.enable-remote-write-receiver" in prom_flags
    assert "--enable-feature=exemplar-storage" in prom_flags
    assert not any(flag.startswith("--web.listen-address") for flag in prom_flags)  # :9090
    host, port, path = host_port(otelcol["exporters"]["otlp_http/prometheus"]["endpoint"])
    assert (host, port, path + "/v1/metrics") == ("prometheus", 9090, "/api/v1/otlp/v1/metrics")
    for remote in tempo["metrics_generator"]["storage"]["remote_write"]:
        assert host_port(remote["url"]) == ("prometheus", 9090, "/api/v1/write")
    reader = otelcol["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"][
        "prometheus"
    ]
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    }
    assert {f"otel-collector:{reader['port']}", f"tempo:{tempo_http_port}"} <= targets
    sources = load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    urls = {source["type"]: host_port(source["url"])[:2] for source in sources}
    assert urls == {"prometheus": ("prometheus", 9090), "tempo": ("tempo", tempo_http_port)}
    for host, _port in [*urls.values(), ("tempo", 0), ("prometheus", 0)]:
        assert host in services


def test_agents_reach_the_collector_on_the_standard_ports(
    otelcol: dict[str, Any], compose: dict[str, Any]
) -> None:
    """The collector listens on OTLP's standard ports (gRPC 4317, HTTP 4318: the SDK
    exporters' defaults that configure() uses) and compose publishes both."""
    protocols = otelcol["receivers"]["otlp"]["protocols"]
    assert host_port(protocols["grpc"]["endpoint"])[1] == 4317
    assert host_port(protocols["http"]["endpoint"])[1] == 4318
    assert {"4317:4317", "4318:4318"} <= set(compose["services"]["otel-collector"]["ports"])


def test_config_files_and_the_ingest_file_are_mounted(
    otelcol: dict[str, Any], compose: dict[str, Any]
) -> None:
    """Each service reads the config file of this directory it is given, Grafana finds
    its provisioning and the dashboard, and the file exporter writes onto a host volume."""
    collector = mounts(compose, "otel-collector")
    config_flag = compose["services"]["otel-collector"]["command"][0]
    assert collector[config_flag.split("=", 1)[1]] == "./otelcol.yaml"
    tempo_flag = next(
        f for f in compose["services"]["tempo"]["command"] if f.startswith("-config.file=")
    )
    assert mounts(compose, "tempo")[tempo_flag.split("=", 1)[1]] == "./tempo.yaml"
    prom_flag = next(
        f for f in compose["services"]["prometheus"]["command"] if f.startswith("--config.file=")
    )
    assert mounts(compose, "prometheus")[prom_flag.split("=", 1)[1]] == "./prometheus.yaml"
    exporter = otelcol["exporters"]["file/llm"]
    assert exporter["format"] == "json" and "compression" not in exporter and "rotation" in exporter
    directory = str(Path(exporter["path"]).parent)
    assert collector[directory].startswith("./") and (KIT / collector[directory]).is_dir()
    grafana = mounts(compose, "grafana")
    assert grafana["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = load_yaml("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    assert (KIT / grafana[provider["options"]["path"]] / DASHBOARD.name).is_file()


def test_images_are_pinned_and_named_in_the_readme(compose: dict[str, Any]) -> None:
    """Every image has an explicit version tag, and the README names each one."""
    readme = (KIT / "README.md").read_text(encoding="utf-8")
    for service in compose["services"].values():
        image, _, tag = service["image"].rpartition(":")
        assert image and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), service["image"]
        assert f"`{service['image']}`" in readme


def test_tempo_span_metrics_cover_llm_spans_only() -> None:
    """Tempo's span metrics (the latency panel) count the same inference operations and
    OpenInference kind as the collector's filter, keyed by our metric attributes."""
    span_metrics = load_yaml("tempo.yaml")["metrics_generator"]["processor"]["span_metrics"]
    assert set(span_metrics["dimensions"]) <= set(m.METRIC_ATTRIBUTES)
    rules = {
        r["include_any"]["attributes"][0]["key"]: r["include_any"]
        for r in span_metrics["filter_policies"]
    }
    operations = rules["span." + a.GEN_AI_OPERATION_NAME]["attributes"][0]["value"]
    for operation in a.INFERENCE_OPERATIONS | a.AGGREGATE_OPERATIONS:
        assert bool(re.fullmatch(operations, operation)) == (operation in a.INFERENCE_OPERATIONS)
    kind = rules["span." + a.OPENINFERENCE_SPAN_KIND]
    assert (kind["match_type"], kind["attributes"][0]["value"]) == (
        "strict",
        a.OPENINFERENCE_LLM_KIND,
    )


# --- the dashboard and data sources ----------------------------------------------------

_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_PROMQL_WORDS = {"and", "or", "unless", "bool", "offset"}


def promql_names(expr: str, tags: set[str]) -> tuple[set[str], set[str]]:
    """(series names, label names) in a PromQL expression as Grafana sends it; `$__tags`
    (Tempo's trace-to-metrics) stands for the `tags` labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr.replace("$$", "$"))
    labels = {label for body in _GROUPING.findall(text) for label in re.findall(r"\w+", body)}
    for body in re.findall(r"\{([^{}]*)\}", text):
        labels |= (
            tags if body.strip() == "$__tags" else set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body))
        )
    text = _GROUPING.sub(" ", re.sub(r"\{[^{}]*\}|\[[^\]]*\]", " ", text))
    names = set(re.findall(r"(?<![\w$.])([A-Za-z_:][\w:]*)\b(?!\s*\()", text)) - _PROMQL_WORDS
    return names, labels


def exported_families() -> dict[str, set[str]]:
    """Our metrics (otel_token_usage.semconv) -> their Prometheus series names."""
    found = {m.TOKEN_USAGE: families(m.TOKEN_USAGE, m.TOKEN_UNIT, "histogram")}
    found |= {name: families(name, m.TOKEN_UNIT, "counter") for name in m.COUNTERS}
    found[m.COST] = families(m.COST, m.COST_UNIT, "counter")
    return found


def allowed_labels(otelcol: dict[str, Any]) -> dict[str, set[str]]:
    """Prometheus series name -> the labels it can carry."""
    ours = {prometheus_label(key) for key in m.METRIC_ATTRIBUTES}
    allowed: dict[str, set[str]] = {}
    for name, series in exported_families().items():
        extra = {prometheus_label(a.GEN_AI_TOKEN_TYPE)} if name == m.TOKEN_USAGE else set()
        allowed |= {s: ours | extra | ({"le"} if s.endswith("_bucket") else set()) for s in series}
    for definition in derived_metrics(otelcol):
        allowed |= dict.fromkeys(families(definition["name"], definition["unit"], "counter"), ours)
    dimensions = load_yaml("tempo.yaml")["metrics_generator"]["processor"]["span_metrics"][
        "dimensions"
    ]
    tempo = TEMPO_INTRINSIC_LABELS | {prometheus_label(d) for d in dimensions}
    return allowed | dict.fromkeys(TEMPO_SPAN_METRICS, tempo)


def dashboard_queries() -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, query target) for every query of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target


def traceql_queries() -> Iterator[str]:
    """Every TraceQL query of the dashboard: Tempo panels and the Explore links."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    links = list(dashboard["links"])
    for panel in dashboard["panels"]:
        links += panel["fieldConfig"]["defaults"].get("links", [])
    for link in links:
        panes = json.loads(unquote(link["url"]).split("panes=", 1)[1])
        yield from (query["query"] for pane in panes.values() for query in pane["queries"])
    yield from (
        t["query"] for _title, t in dashboard_queries() if t["datasource"]["type"] == "tempo"
    )


def test_dashboard_queries_only_what_this_project_emits(otelcol: dict[str, Any]) -> None:
    """Every PromQL query (panels, variables, Tempo's trace-to-metrics links) names only
    series and labels this project, its collector or Tempo's span metrics produce, and
    the dashboard shows every metric the exporter records."""
    allowed = allowed_labels(otelcol)
    tempo_source = next(
        s
        for s in load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]
        if s["type"] == "tempo"
    )
    tags = {tag["value"] for tag in tempo_source["jsonData"]["tracesToMetrics"]["tags"]}
    expressions = [
        t["expr"] for _title, t in dashboard_queries() if t["datasource"]["type"] == "prometheus"
    ]
    expressions += [q["query"] for q in tempo_source["jsonData"]["tracesToMetrics"]["queries"]]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for variable in dashboard["templating"]["list"]:
        metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]).groups()  # type: ignore[union-attr]
        expressions.append(f'{metric}{{{label}=~""}}')
    seen: set[str] = set()
    for expr in expressions:
        names, labels = promql_names(expr, tags)
        assert names and names <= set(allowed), (expr, names - set(allowed))
        for name in names:
            assert labels <= allowed[name], (expr, name, labels - allowed[name])
        seen |= names
    for metric, series in exported_families().items():
        assert series & seen, metric
    tag_keys = {tag["key"] for tag in tempo_source["jsonData"]["tracesToMetrics"]["tags"]}
    assert {prometheus_label(key) for key in tag_keys} == tags and tag_keys <= set(
        m.METRIC_ATTRIBUTES
    )


def test_traceql_names_only_our_span_attributes() -> None:
    """The dashboard's Tempo searches (table panel and links) use span attributes that
    otel_token_usage.semconv defines, and there is a link into Tempo's search."""
    known = {value for value in vars(a).values() if isinstance(value, str)}
    queries = list(traceql_queries())
    assert len(queries) >= 3
    for query in queries:
        used = set(re.findall(r"\bspan\.([\w.]+)", query))
        assert used and used <= known, (query, used - known)
    assert any(a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS in query for query in queries)


def test_data_sources_link_traces_and_metrics_both_ways() -> None:
    """Prometheus' exemplars open Tempo, Tempo's spans open Prometheus, and every panel
    uses a provisioned data source of its type."""
    sources = {
        s["uid"]: s
        for s in load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    }
    prometheus = next(s for s in sources.values() if s["type"] == "prometheus")
    tempo = next(s for s in sources.values() if s["type"] == "tempo")
    destinations = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert destinations == [{"name": "trace_id", "datasourceUid": tempo["uid"]}]
    assert tempo["jsonData"]["tracesToMetrics"]["datasourceUid"] == prometheus["uid"]
    for title, target in dashboard_queries():
        source = sources[target["datasource"]["uid"]]
        assert source["type"] == target["datasource"]["type"], title
    readme = (KIT / "README.md").read_text(encoding="utf-8")
    for title, _target in dashboard_queries():
        assert title in readme, title
