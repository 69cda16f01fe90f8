"""The page task: one stored page through the page processors (``pipeline.PageRun``), its
outcome (counts, errors with retry data, the page marked processed) written in one transaction."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import update
from sqlalchemy.orm import Session

from integrator.adaptors import registry
from integrator.adaptors.http.auth import AuthFailed
from integrator.adaptors.http.debuglog import DebugLog
from integrator.engine import joberrors as errors_store
from integrator.engine import jobs
from integrator.engine.debugging import debug_log_for, save_debug_log
from integrator.engine.hooks import (
    Extensions,
    HookContext,
    HookError,
    HookRunner,
)
from integrator.engine.pipeline import Failure, FlowPlan, PageOutcome, PageRun, Step, StepCounts
from integrator.engine.steps import SYSTEM_TOKEN, RunnerBase, describe, hook_context, log
from integrator.errors import IntegratorError
from integrator.resources import REGISTRY
from integrator.store.models import Job, JobPage


def _claim_page(session: Session, job_id: str, generator: int, page_index: int) -> bool:
    """Mark the page processed (dropping its records); False when someone already had."""
    claimed = session.execute(
        update(JobPage)
        .where(
            JobPage.job_id == job_id,
            JobPage.generator == generator,
            JobPage.page_index == page_index,
            JobPage.processed.is_(False),
        )
        .values(processed=True, records=None)
    ).rowcount  # type: ignore[attr-defined]
    return bool(claimed)


#: Page contexts kept per process (a few per running job).
MAX_CACHED_CONTEXTS = 64
_CONTEXTS: OrderedDict[tuple[str, int], PageContext] = OrderedDict()
_CONTEXTS_LOCK = threading.Lock()


class PageTask(RunnerBase):
    def process_page(self, job_id: str, generator: int, page_index: int) -> None:
        """Run one stored page through the page processors (idempotent per page)."""
        with self.transaction() as session:
            job = jobs.get(session, job_id)
            page = session.get(JobPage, (job_id, generator, page_index))
            if job is None or page is None or page.processed:
                return
            stored = page.records
            canceled = job.status != "running"
            if canceled:
                jobs.lock(session, job_id)
                self._page_done(session, job_id, generator, page_index)
            else:
                context = self._cached_context(session, job, generator)
        if canceled:
            self.pages.drop(stored)
            self.finish_if_done(job_id)
            return
        payload = orjson.loads(self.pages.get(stored))
        keys: list[str] | None = None
        if job.type == "retry":
            keys = [key for key, _ in payload]
            records = [record for _, record in payload]
        else:
            records = payload
        start = int((job.options or {}).get("start") or 0)
        outcome: PageOutcome | None = None
        page_error: str | None = None
        try:
            outcome = context.run.process(records, start, f"{job_id}.{generator}.{page_index}")
        except AuthFailed as exc:
            page_error = f"The connection's credentials were refused ({exc})."
            for connection_id in context.connections_used:
                self._set_offline(job.account_id, connection_id)
        except (IntegratorError, HookError) as exc:
            page_error = describe(exc)
        except Exception as exc:  # one page never takes the worker down
            log.exception("page %s of job %s failed", page_index, job_id)
            page_error = describe(exc)
        if outcome is None:
            outcome = _page_failed(context.plan, records, start, page_error or "The page failed.")
        elif job.type == "flow" and context.once_export is not None:
            # Before the page counts as processed, so the job never ends with marks pending.
            self._mark_once(context, records)
        with self.transaction() as session:
            if not _claim_page(session, job_id, generator, page_index):
                return  # another delivery of this task wrote the outcome first
            jobs.lock(session, job_id)
            self._write_outcome(session, job, context, outcome, keys)
            jobs.add_counts(session, [job_id], num_pages_processed=1, progress=True)
            export_child = jobs.child(session, job_id, "export", generator)
            if export_child is not None:
                jobs.add_counts(session, [export_child.id], num_pages_processed=1)
            for connection_id, log_ in context.debug_logs():
                save_debug_log(session, job.account_id, connection_id, None, log_)
        self.pages.drop(stored)
        self.finish_if_done(job_id)

    def _page_done(self, session: Session, job_id: str, generator: int, page_index: int) -> None:
        if _claim_page(session, job_id, generator, page_index):
            jobs.add_counts(session, [job_id], num_pages_processed=1)

    def _cached_context(self, session: Session, job: Job, generator: int) -> PageContext:
        """The page context of this job's generator, built once per job and process: pages
        of one run see the flow, its steps and their connections as the run found them first
        (unsealing every document for every page cost more than small pages' imports).
        Contexts that keep debug logs are built per page, so each page saves its own entries."""
        key = (job.id, generator)
        with _CONTEXTS_LOCK:
            cached = _CONTEXTS.get(key)
            if cached is not None:
                _CONTEXTS.move_to_end(key)
                return cached
        context = self._page_context(session, job, generator)
        if not context.logs:
            with _CONTEXTS_LOCK:
                _CONTEXTS[key] = context
                while len(_CONTEXTS) > MAX_CACHED_CONTEXTS:
                    _CONTEXTS.popitem(last=False)
        return context

    def _page_context(self, session: Session, job: Job, generator: int) -> PageContext:
        service = self.service(session, job.account_id)
        flow = service.unsealed(REGISTRY["flows"], str(job.flow_id))
        plan = FlowPlan.of(flow)
        context = PageContext(
            self, job.account_id, plan, skip_retries=bool(flow.get("skipRetries"))
        )
        offset = len(plan.generators)
        for child in jobs.children(session, job.id):
            if child.o_index is not None and child.o_index >= offset:
                context.step_jobs[child.o_index - offset] = child.id
        for step in plan.steps:
            type_name = "imports" if step.kind == "import" else "exports"
            doc = service.unsealed(REGISTRY[type_name], step.resource_id)
            doc["_id"] = step.resource_id
            connection_id = doc.get("_connectionId")
            connection = service.unsealed(REGISTRY["connections"], str(connection_id))
            context.add_step(step, doc, str(connection_id), connection)
        if job.type == "flow" and generator < len(plan.generators):
            export = service.unsealed(REGISTRY["exports"], plan.generators[generator].export_id)
            if export.get("type") == "once":
                connection_id = str(export.get("_connectionId"))
                context.once_export = (
                    export,
                    service.unsealed(REGISTRY["connections"], connection_id),
                )
        context.build_run(
            self.hooks,
            {"_flowId": job.flow_id, "_integrationId": job.integration_id},
            hook_context(job, flow),
        )
        return context

    def _write_outcome(
        self,
        session: Session,
        job: Job,
        context: PageContext,
        outcome: PageOutcome,
        keys: list[str] | None,
    ) -> None:
        total = StepCounts()
        for step_index, counts in outcome.counts.items():
            child_id = context.step_jobs.get(step_index)
            if child_id:
                jobs.add_counts(
                    session,
                    [child_id],
                    num_success=counts.success,
                    num_error=counts.error,
                    num_ignore=counts.ignore,
                )
            total.success += counts.success
            total.error += counts.error
            total.ignore += counts.ignore
        jobs.add_counts(
            session,
            [job.id],
            num_success=total.success,
            num_error=total.error,
            num_ignore=total.ignore,
        )
        for failure in outcome.failures:
            step = context.plan.steps[failure.step]
            where = self._where(
                job,
                context.step_jobs.get(step.index) or job.id,
                step.resource_id,
                len(context.plan.generators) + step.index,
                f"pageProcessors.{step.index}",
            )
            errors_store.record(
                session,
                where,
                [(failure.record, failure.errors, failure.trace_key)],
                keep_retry_data=not context.skip_retries,
                source=failure.source,
            )
        if keys is not None:
            # A retried record's old error is resolved whatever happened: when it failed
            # again, the new error (with fresh retry data) replaces it.
            resolved = errors_store.resolve(
                session, job.account_id, retry_data_keys=keys, by=SYSTEM_TOKEN
            )
            # The original flow job shows the outcome: retried records that now succeed move
            # from its errors to its successes.
            succeeded = len(outcome.clean) if resolved else 0
            if job.retry_of_job_id and succeeded:
                jobs.add_counts(
                    session, [job.retry_of_job_id], num_success=succeeded, num_error=-succeeded
                )
            session.execute(
                update(errors_store.JobError)
                .where(errors_store.JobError.retry_data_key.in_(keys))
                .values(retry_job_id=job.id)
            )

    def _mark_once(self, context: PageContext, records: list[dict[str, Any]]) -> None:
        assert context.once_export is not None
        export, connection = context.once_export
        try:
            registry.mark_records(export, connection, records)
        except Exception:  # a failed mark means the record comes again next run
            log.warning(
                "marking records of once export %s failed", export.get("_id"), exc_info=True
            )


class PageContext:
    """What a page task needs: the plan, each step's documents and connections, adaptor calls
    that keep debug logs and store renewed tokens."""

    def __init__(
        self, runner: RunnerBase, account_id: str, plan: FlowPlan, skip_retries: bool
    ) -> None:
        self.runner = runner
        self.account_id = account_id
        self.plan = plan
        self.skip_retries = skip_retries
        self.step_jobs: dict[int, str] = {}
        self.docs: dict[int, dict[str, Any]] = {}
        self.connections: dict[int, tuple[str, dict[str, Any]]] = {}
        self.logs: dict[int, DebugLog] = {}
        self.once_export: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.run: PageRun

    @property
    def connections_used(self) -> list[str]:
        return sorted({connection_id for connection_id, _ in self.connections.values()})

    def add_step(
        self, step: Step, doc: dict[str, Any], connection_id: str, connection: dict[str, Any]
    ) -> None:
        self.docs[step.index] = doc
        self.connections[step.index] = (connection_id, connection)
        debug = debug_log_for(connection, doc)
        if debug is not None:
            self.logs[step.index] = debug

    def debug_logs(self) -> list[tuple[str, DebugLog]]:
        return [(self.connections[index][0], debug) for index, debug in self.logs.items()]

    def build_run(
        self, hooks: HookRunner, hook_options: Mapping[str, Any], hook_context: HookContext
    ) -> None:
        by_id = {step.resource_id: step.index for step in self.plan.steps}
        extensions = Extensions(hooks, hook_context)

        def resources(step: Step) -> Mapping[str, Any]:
            return self.docs[step.index]

        def call_import(
            doc: Mapping[str, Any], records: list[dict[str, Any]], post_map: Any = None
        ) -> list[dict[str, Any]]:
            index = by_id[str(doc["_id"])]
            connection_id, connection = self.connections[index]
            return registry.import_records(
                doc,
                connection,
                records,
                self.logs.get(index),
                self.runner._token_listener(self.account_id, connection_id),
                post_map=post_map,
                extensions=extensions,
            )

        def call_lookup(doc: Mapping[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
            index = by_id[str(doc["_id"])]
            connection_id, connection = self.connections[index]
            found, _ = registry.export_records(
                doc,
                connection,
                1000,
                self.logs.get(index),
                self.runner._token_listener(self.account_id, connection_id),
                context={"record": record, "data": record},
                extensions=extensions,
            )
            return found

        self.run = PageRun(
            self.plan, resources, call_import, call_lookup, hooks, hook_options, hook_context
        )


def _page_failed(
    plan: FlowPlan, records: list[dict[str, Any]], start: int, message: str
) -> PageOutcome:
    """Every record of a page that could not be processed fails at the first step."""
    outcome = PageOutcome()
    if start >= len(plan.steps):
        return outcome
    outcome.counts[start] = StepCounts(error=len(records))
    error = {"code": "page_failed", "message": message}
    outcome.failures = [
        Failure(start, record, [error], None, "internal", position)
        for position, record in enumerate(records)
    ]
    return outcome
