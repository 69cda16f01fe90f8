"""The export task: one page generator read page by page into the page store (after
``preSavePage``), one page task sent per stored page; a retry job's generator reads its retry
data instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrator.adaptors import registry
from integrator.adaptors.http.auth import AuthFailed, TokenSet
from integrator.adaptors.http.debuglog import DebugLog
from integrator.engine import delta, jobs, webhooks
from integrator.engine import joberrors as errors_store
from integrator.engine.debugging import debug_log_for, save_debug_log
from integrator.engine.hooks import (
    Extensions,
    HookContext,
    HookError,
    hook_ref,
    kept,
    pre_save_page_result,
    script_ref,
    transformed,
)
from integrator.engine.pipeline import FlowPlan
from integrator.engine.steps import PAGE, RunnerBase, describe, hook_context, log
from integrator.engine.webhooks import WebhookPages
from integrator.errors import IntegratorError
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.models import Job, JobPage

#: Records per page of a retry job.
RETRY_PAGE_SIZE = 100


class ExportTask(RunnerBase):
    def run_export(self, job_id: str, generator: int) -> None:
        """Read one page generator into the page store, sending a page task per page."""
        with self.transaction() as session:
            job = jobs.get(session, job_id)
            if job is None or job.status not in ("running", "canceling"):
                return
            child = jobs.child(session, job_id, "export", generator)
            if child is None or child.status != "running":
                return
            if job.status == "canceling":
                jobs.lock(session, job_id)
                self._generator_done(session, job, child, "canceled")
                stopping = True
            else:
                stopping = False
                account_id = job.account_id
                options = dict(job.options or {})
                service = self.service(session, account_id)
                flow = service.unsealed(REGISTRY["flows"], str(job.flow_id))
                plan = FlowPlan.of(flow)
                skip_retries = bool(flow.get("skipRetries"))
                calls = hook_context(job, flow)
                source, export, connection_id = self._page_source(
                    session, service, job, plan, generator, options, calls
                )
                stored = session.scalar(
                    select(JobPage.page_index)
                    .where(JobPage.job_id == job_id, JobPage.generator == generator)
                    .order_by(JobPage.page_index.desc())
                    .limit(1)
                )
        if stopping:
            self.finish_if_done(job_id)
            return
        next_index = 0 if stored is None else stored + 1
        status, message, error_source = "completed", None, "application"
        debug = source.debug
        try:
            for index, page in enumerate(source.pages()):
                if index < next_index:
                    continue  # stored by an earlier delivery of this task
                records, ignored = self._transform_and_filter(export, page, calls)
                records, hook_errors, abort = self._pre_save_page(
                    export, records, index, options, calls
                )
                with self.transaction() as session:
                    jobs.lock(session, job_id)
                    session.add(
                        JobPage(
                            job_id=job_id,
                            generator=generator,
                            page_index=index,
                            records=self.pages.put(job_id, generator, index, orjson.dumps(records)),
                            processed=False,
                        )
                    )
                    jobs.add_counts(
                        session,
                        [job_id, child.id],
                        num_export=len(page),
                        num_ignore=ignored,
                        num_pages_generated=1,
                        progress=True,
                    )
                    source.stored(session, index)
                    if hook_errors:
                        self._record_generator_errors(
                            session, job, child, hook_errors, skip_retries, "pre_save_page_hook"
                        )
                    stop = jobs.is_stopping(session, job_id)
                self.queue.send(PAGE, job_id, generator, index)
                if abort or stop:
                    break
        except AuthFailed as exc:
            status, message = "failed", f"The connection's credentials were refused ({exc})."
            error_source = "connection"
            self._set_offline(account_id, connection_id)
        except Exception as exc:  # the export fails, not the worker
            status, message = "failed", describe(exc)
            if not isinstance(exc, IntegratorError | HookError):
                log.exception("export of job %s failed", job_id)
        with self.transaction() as session:
            jobs.lock(session, job_id)
            job = jobs.get(session, job_id)
            assert job is not None
            child = jobs.child(session, job_id, "export", generator)
            assert child is not None
            source.release(session)
            if status == "failed":
                error = {"code": "export_failed", "message": message or "The export failed."}
                errors_store.record(
                    session,
                    self._where(
                        job,
                        child.id,
                        child.export_id or "",
                        generator,
                        f"pageGenerators.{generator}",
                    ),
                    [(None, [error], None)],
                    keep_retry_data=False,
                    source=error_source,
                )
                jobs.add_counts(session, [job_id, child.id], num_error=1)
            self._generator_done(session, job, child, status, message)
            if debug is not None and connection_id:
                save_debug_log(session, account_id, connection_id, child.export_id, debug)
        self.finish_if_done(job_id)

    def _page_source(
        self,
        session: Session,
        service: ResourceService,
        job: Job,
        plan: FlowPlan,
        generator: int,
        options: Mapping[str, Any],
        calls: HookContext,
    ) -> tuple[PageSource, dict[str, Any], str | None]:
        if job.type == "retry":
            keys = list(options.get("retryDataKeys") or [])
            found = errors_store.by_retry_keys(session, job.account_id, keys)
            records = [(error.retry_data_key, error.retry_data) for error in found]
            return RetryPages(records), {}, None
        entry = plan.generators[generator]
        export = service.unsealed(REGISTRY["exports"], entry.export_id)
        export["_id"] = entry.export_id
        if export.get("type") == "webhook":
            size = webhooks.export_page_size(export)
            pages = WebhookPages(self.sessions, job.id, generator, str(job.flow_id), size)
            return pages, export, None
        connection_id = export.get("_connectionId")
        connection = service.unsealed(REGISTRY["connections"], str(connection_id))
        window = (options.get("windows") or {}).get(entry.export_id)
        context = delta.template_values(export, window) if window else None
        debug = debug_log_for(connection, export)
        on_token = self._token_listener(job.account_id, str(connection_id))
        return (
            ExportPages(
                export, connection, context, debug, on_token, Extensions(self.hooks, calls)
            ),
            export,
            str(connection_id),
        )

    def _transform_and_filter(
        self, export: Mapping[str, Any], page: list[Any], calls: HookContext
    ) -> tuple[list[Any], int]:
        """The export's script ``transform`` then script ``filter``, record by record (as
        integrator.io runs them, before preSavePage); the page and how many were filtered out."""
        options = {"_exportId": export.get("_id")}
        ref = script_ref(export, "transform")
        if ref is not None and page:
            page = transformed(self.hooks.call(ref, options, calls, each=page), len(page))
        ref = script_ref(export, "filter")
        if ref is None or not page:
            return page, 0
        keep = kept(self.hooks.call(ref, options, calls, each=page), len(page))
        survivors = [record for record, passes in zip(page, keep, strict=True) if passes]
        return survivors, len(page) - len(survivors)

    def _pre_save_page(
        self,
        export: Mapping[str, Any],
        page: list[dict[str, Any]],
        index: int,
        options: Mapping[str, Any],
        calls: HookContext,
    ) -> tuple[list[Any], list[tuple[Any, list[dict[str, Any]], str | None]], bool]:
        ref = hook_ref(export, "preSavePage")
        if ref is None:
            return page, [], False
        window = (options.get("windows") or {}).get(str(export.get("_id"))) or {}
        result = pre_save_page_result(
            self.hooks.call(
                ref,
                {
                    "data": page,
                    "errors": [],
                    "retryData": {},
                    "pageIndex": index,
                    "_exportId": export.get("_id"),
                    **window,
                },
                calls,
            )
        )
        failures: list[tuple[Any, list[dict[str, Any]], str | None]] = []
        # Each page-level error is one error of the job, as integrator.io counts them.
        failures.extend((None, [error], None) for error in result.errors)
        for entry in result.new_errors:
            failures.append((entry.get("retryData"), list(entry.get("errors") or []), None))
        return result.data, failures, result.abort

    def _record_generator_errors(
        self,
        session: Session,
        job: Job,
        child: Job,
        failures: list[tuple[Any, list[dict[str, Any]], str | None]],
        skip_retries: bool,
        source: str,
    ) -> None:
        # A hook's new error with retry data retries from the first page processor.
        where = self._where(
            job, child.id, child.export_id or "", child.o_index or 0, "pageProcessors.0"
        )
        count = errors_store.record(
            session, where, failures, keep_retry_data=not skip_retries, source=source
        )
        jobs.add_counts(session, [job.id, child.id], num_error=count)

    def _generator_done(
        self, session: Session, job: Job, child: Job, status: str, message: str | None = None
    ) -> None:
        if jobs.finish(session, child.id, status, message):
            jobs.add_counts(session, [job.id], generators_done=1)
            if status == "failed" and message:
                session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.message.is_(None))
                    .values(message=message)
                )


class PageSource(Protocol):
    debug: DebugLog | None

    def pages(self) -> Iterator[list[dict[str, Any]]]: ...

    def stored(self, session: Session, index: int) -> None:
        """Page ``index`` is being stored, in ``session``'s transaction."""

    def release(self, session: Session) -> None:
        """The export ended: give back what was taken and not stored."""


class _NothingHeld:
    """A page source that holds nothing between reading a page and storing it."""

    def stored(self, session: Session, index: int) -> None:
        return None

    def release(self, session: Session) -> None:
        return None


class ExportPages(_NothingHeld):
    """A page generator's export, read through its adaptor (``once`` marks wait for the page
    processors: see ``FlowRunner.process_page``)."""

    def __init__(
        self,
        export: dict[str, Any],
        connection: dict[str, Any],
        context: Mapping[str, Any] | None,
        debug: DebugLog | None,
        on_token: Callable[[TokenSet], None],
        extensions: Extensions,
    ) -> None:
        self.export = export
        self.connection = connection
        self.context = context
        self.debug = debug
        self.on_token = on_token
        self.extensions = extensions

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        yield from registry.iter_export_pages(
            self.export,
            self.connection,
            self.debug,
            self.on_token,
            context=self.context,
            mark=False,
            extensions=self.extensions,
        )


class RetryPages(_NothingHeld):
    """A retry job's pages: ``[retryDataKey, record]`` pairs from the errors' retry data."""

    debug: DebugLog | None = None

    def __init__(self, records: list[tuple[Any, Any]]) -> None:
        self.records = records

    def pages(self) -> Iterator[list[Any]]:
        for start in range(0, len(self.records), RETRY_PAGE_SIZE):
            yield [list(pair) for pair in self.records[start : start + RETRY_PAGE_SIZE]]
