"""The Great Expectations context of one run: ephemeral, with one pandas data source and batch per kind of target."""

from __future__ import annotations

import contextlib
import itertools
import threading
import types
from pathlib import Path

from checks.rows import result_rows


class Gates:
    """An ephemeral GX context (nothing written to the working folder, progress bars and analytics off)
    with one pandas data source and one whole-dataframe batch definition per kind of target.

    Suites are built once per key and reused, so a suite validated many times (the benchmark) is built
    once. `data_docs`: a folder to build GX Data Docs into (optional; its HTML loads CSS and JS from CDNs,
    so the project renders its own report pages for the site)."""

    ASSETS = ("release", "inventory", "playbook")

    def __init__(self, data_docs: Path | None = None):
        # checks/__init__.py has set GX_ANALYTICS_ENABLED=false before this first import
        import_gx()
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self.gx = gx
        _no_batch_fingerprint()
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        self.data_docs = Path(data_docs) if data_docs else None
        if self.data_docs is not None:
            config.data_docs_sites = {"codegov": {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(self.data_docs.resolve())},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }}
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        source = self.context.data_sources.add_pandas("codegov")
        self.batches = {a: source.add_dataframe_asset(a).add_batch_definition_whole_dataframe("whole")
                        for a in self.ASSETS}
        self._suites: dict = {}
        self._definitions: dict = {}
        self._counter = itertools.count(1)

    def suite(self, asset: str, key, build):
        """The suite for `key`, built with `build()` the first time. With Data Docs, it is added to the
        context with a validation definition, whose runs store the results the docs are built from."""
        if key not in self._suites:
            n = next(self._counter)
            suite = build()
            suite.name = f"{suite.name} #{n}"
            if self.data_docs is not None:
                suite = self.context.suites.add(suite)
                vd = self.gx.ValidationDefinition(name=f"{asset} #{n}", data=self.batches[asset], suite=suite)
                self._definitions[key] = self.context.validation_definitions.add(vd)
            self._suites[key] = suite
        return self._suites[key]

    def validate(self, asset: str, key, build, frame, result_format: dict):
        """The GX validation result of `frame` with the suite `build()` makes (built once per key).

        Without Data Docs, GX's validator runs the suite on the batch directly: ValidationDefinition.run
        would first compare the suite and the definition with their stored copies (is_fresh) and after
        store the result serialised, for Data Docs only (a fifth of the checks' CPU on the real releases;
        the same rows: tests/test_checks_release.py)."""
        suite = self.suite(asset, key, build)
        with one_run():
            if self.data_docs is not None:
                return self._definitions[key].run(batch_parameters={"dataframe": frame}, result_format=result_format)
            from great_expectations.validator.v1_validator import Validator

            validator = Validator(batch_definition=self.batches[asset], result_format=result_format,
                                  batch_parameters={"dataframe": frame})
            return validator.validate_expectation_suite(suite)

    def run(self, asset: str, key, build, frame, result_format: dict, suite: str, target: str) -> list[dict]:
        """Validate `frame` with the suite `build()` makes (built once per key); the report rows, in suite order."""
        result = self.validate(asset, key, build, frame, result_format)
        order = {e.meta["gate"]: i for i, e in enumerate(self._suites[key].expectations)}
        rows = result_rows(result, suite, target)
        return sorted(rows, key=lambda r: order.get(r["gate"], len(order)))

    def build_data_docs(self) -> Path | None:
        if self.data_docs is None:
            return None
        self.context.build_data_docs()
        return self.data_docs / "index.html"


def _no_batch_fingerprint() -> None:
    """Great Expectations hashes every pandas batch under 1 GB into a "pandas_data_fingerprint" batch marker
    (great_expectations.execution_engine.pandas_execution_engine.HASH_THRESHOLD). The marker is metadata
    only: no expectation reads it, and codegov's report rows never show it. On a 98,000-row release table
    the hash costs 0.28 s of a 0.65 s validation, so the threshold is set to zero for this process."""
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0


@contextlib.contextmanager
def one_run():
    """What Great Expectations 1.x computes again and again within one validation run, computed once while
    the run lasts (memoised_configurations, memoised_row_filters); GX's own code is back when it ends and
    nothing is kept (tests/test_checks_release.py: the same rows either way)."""
    with memoised_configurations(), memoised_row_filters():
        yield


@contextlib.contextmanager
def memoised_configurations():
    """While one validation runs, each Expectation's `configuration` is built once, not on every read.

    Great Expectations 1.x rebuilds an Expectation's ExpectationConfiguration (a pydantic dict() of the
    whole expectation) each time the property is read, and its validator reads it for every domain key of
    every metric it plans (`_get_domain_kwargs`: one rebuild per key): about a fifth of the CPU of the
    checks in a real update (1.97 s against 1.60 s median of six, the same rows). On this path GX only reads
    the configurations it gets (it deep-copies one before it adds the batch id; the one change it makes in
    place, `process_suite_parameters`, substitutes suite parameters, which codegov's suites do not have), so
    within a run a rebuilt configuration equals the first."""
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__["configuration"]
    built: dict[int, tuple] = {}

    def configuration(self):
        hit = built.get(id(self))
        if hit is None or hit[0] is not self:  # keyed by id, kept with the object: an id is never reused meanwhile
            hit = built[id(self)] = (self, original.fget(self))
        return hit[1]

    Expectation.configuration = property(configuration, doc=original.__doc__)
    try:
        yield
    finally:
        Expectation.configuration = original
        built.clear()


@contextlib.contextmanager
def memoised_row_filters():
    """While one validation runs, each row condition filters the batch once, not once per metric.

    GX's pandas engine filters the whole batch with DataFrame.query for every metric of an expectation with
    a row condition (get_domain_records: unexpected count, values, index list, row count, nonnull count...):
    the stacked release suite of the twelve Place of Service releases holds 24 such expectations, each
    filtered about eight times. GX already hands every metric without a row condition the batch's own
    frame, unfiltered and shared, so no metric changes the frame it gets; a filtered frame shared the same
    way is what each metric would have computed, keyed by the frame and the condition's text."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    original = PandasExecutionEngine.__dict__["_apply_row_condition_filter"]
    filtered: dict[tuple, tuple] = {}

    def apply(self, data, row_condition, domain_kwargs):
        key = (id(data), repr(row_condition), repr(domain_kwargs.get("condition_parser")))
        hit = filtered.get(key)
        if hit is None or hit[0] is not data:  # kept with the frame: its id is never reused meanwhile
            hit = filtered[key] = (data, original(self, data, row_condition, domain_kwargs))
        return hit[1]

    PandasExecutionEngine._apply_row_condition_filter = apply
    try:
        yield
    finally:
        PandasExecutionEngine._apply_row_condition_filter = original
        filtered.clear()


# Imported by Great Expectations for what codegov's suites never run, so deferred (defer_import): scipy.stats
# (about a second) and altair (0.56 s with jsonschema and narwhals) by the KL-divergence expectation, for its
# statistic and its charts; asyncio (0.16 s) by tqdm.auto, for tqdm's asyncio progress bar (GX's bars are off).
DEFERRED = ("scipy.stats", "altair", "asyncio")


def import_gx() -> None:
    """Import Great Expectations, with DEFERRED deferred (defer_import)."""
    for name in DEFERRED:
        defer_import(name)
    import great_expectations  # noqa: F401
    from great_expectations.data_context.types.base import DataContextConfig  # noqa: F401


def preload() -> threading.Thread:
    """Import Great Expectations in a background thread (it costs seconds), so `codegov update` can start
    on it while worker processes ingest; the first Gates() waits for the import to finish (the import lock)."""

    thread = threading.Thread(target=import_gx, name="gx-import", daemon=True)
    thread.start()
    return thread


def defer_import(name: str) -> None:
    """Make `name` a module that is executed on the first read of an attribute it does not have yet
    (_DeferredModule): what a deferred module costs is finding its file, unless something uses it. Its
    __spec__ and __name__ are there before it runs, so the import system's checks (`import name` reads
    __spec__) leave it deferred; it has no __path__ until it runs, so importing a submodule runs it first.
    The parent package gets it as its attribute, so `from scipy import stats` takes it as it is."""
    import importlib
    import importlib.util
    import sys

    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__dict__.pop("__path__", None)
    module.__class__ = _DeferredModule
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)


class _DeferredModule(types.ModuleType):
    """A module whose code runs on the first read of an attribute it lacks (defer_import)."""

    def __getattr__(self, attr: str):
        with _DEFERRED_LOCK:
            if type(self) is _DeferredModule:
                spec = self.__spec__
                self.__class__ = types.ModuleType
                if spec.submodule_search_locations is not None:
                    self.__path__ = list(spec.submodule_search_locations)
                spec.loader.exec_module(self)
        return getattr(self, attr)


_DEFERRED_LOCK = threading.RLock()
