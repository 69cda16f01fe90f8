"""Running flows: triggers, the dispatcher, and the bodies of the three tasks.

Data flow (ARCHITECTURE.md "Data flow of a flow run"):

1. ``run_flow`` (API, scheduler, ``_runNextFlowIds``) or ``retry`` queues a parent job and
   sends ``dispatch``.
2. ``dispatch`` promotes the flow's oldest queued job when none is active (the database's
   partial unique index decides), creates its child jobs, fixes delta windows, and sends one
   ``export`` task per page generator.
3. ``export`` reads the generator page by page; each page (after ``preSavePage``) goes to the
   page store and one ``page`` task is sent for it. Memory holds one page.
4. ``page`` runs the page processors (``pipeline.PageRun``) and writes the outcome (counts,
   errors with retry data, the page marked processed) in one transaction.
5. Whoever finishes the last piece of work ends the job (``finish_if_done``): ``completed``,
   ``failed`` or ``canceled``; delta cutoffs are committed only on ``completed``; the next
   queued job of the flow is dispatched and ``_runNextFlowIds`` are triggered.

Every task reads the job from the database first and does nothing when its work is already
done, so a redelivered task repeats no finished page. Tasks travel through a ``TaskQueue``:
Celery in every real deployment (``engine.celery_app``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from integrator.adaptors import registry
from integrator.adaptors.http.auth import AuthFailed, TokenSet
from integrator.adaptors.http.debuglog import DebugLog
from integrator.engine import delta, jobs
from integrator.engine import joberrors as errors_store
from integrator.engine.debugging import debug_log_for, save_debug_log
from integrator.engine.hooks import (
    HookError,
    HookRunner,
    NoHookRunner,
    hook_ref,
    pre_save_page_result,
)
from integrator.engine.pipeline import FlowPlan, PageOutcome, PageRun, Step
from integrator.errors import IntegratorError, NotFound, ValidationFailed
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.crypto import Cipher
from integrator.store.models import Job, JobPage

log = logging.getLogger("integrator.engine")

DISPATCH = "integrator.dispatch"
EXPORT = "integrator.export"
PAGE = "integrator.page"

#: Records per page of a retry job.
RETRY_PAGE_SIZE = 100
SYSTEM_TOKEN = "system"


class TaskQueue(Protocol):
    def send(self, name: str, *args: Any) -> None:
        """Ask a worker to run task ``name`` with ``args`` (JSON values)."""


class FlowRunner:
    """Everything that starts, advances and ends jobs; one per process."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        cipher: Cipher,
        queue: TaskQueue,
        hooks: HookRunner | None = None,
    ) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.queue = queue
        self.hooks: HookRunner = hooks or NoHookRunner()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def service(self, session: Session, account_id: str) -> ResourceService:
        return ResourceService(session, self.cipher, Principal(account_id, SYSTEM_TOKEN))

    # -- triggers ----------------------------------------------------------------------------

    def run_flow(
        self,
        account_id: str,
        flow_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        scheduled: bool = False,
    ) -> dict[str, Any] | None:
        """Queue a run of the flow (coalescing with a queued one) and return its job.

        A manual run of a disabled flow, or of a flow whose connection is offline, is refused
        with 422; a scheduled one is skipped (disabled, None) or recorded as a failed job
        that says why (offline).
        """
        options = dict(options or {})
        with self.transaction() as session:
            service = self.service(session, account_id)
            flow = service.unsealed(REGISTRY["flows"], flow_id)
            if flow.get("disabled"):
                if scheduled:
                    return None
                raise ValidationFailed.one("flow_disabled", "The flow is disabled.", "disabled")
            plan = FlowPlan.of(flow)
            self._check_options(plan, options)
            offline = self._offline_connection(service, plan, options)
            job, _ = jobs.create_queued(
                session,
                account_id,
                flow_id,
                options=options,
                integration_id=flow.get("_integrationId"),
            )
            if offline is not None:
                if not scheduled:
                    raise ValidationFailed.one(
                        "connection_offline",
                        f"The flow cannot start: connection {offline} is offline "
                        "(ping it to bring it back online).",
                    )
                jobs.finish(session, job.id, "failed", f"Connection {offline} is offline.")
                session.refresh(job)
                return jobs.job_view(job)
            view = jobs.job_view(job)
        self.queue.send(DISPATCH, flow_id)
        return view

    @staticmethod
    def _check_options(plan: FlowPlan, options: Mapping[str, Any]) -> None:
        if not plan.generators:
            raise ValidationFailed.one(
                "invalid_flow", "The flow has no page generator (_exportId) to run."
            )
        for name in ("startDate", "endDate"):
            value = options.get(name)
            if value is not None and delta.parse_time(value) is None:
                raise ValidationFailed.one("invalid_field", f"{name} is an ISO 8601 date.", name)
        wanted = options.get("_exportIds")
        if wanted is None:
            return
        known = {generator.export_id for generator in plan.generators}
        if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
            raise ValidationFailed.one(
                "invalid_field", "_exportIds is a list of export ids.", "_exportIds"
            )
        unknown = [item for item in wanted if item not in known]
        if unknown or not wanted:
            raise ValidationFailed.one(
                "invalid_field",
                f"Not page generators of this flow: {', '.join(unknown) or '(none given)'}.",
                "_exportIds",
            )

    def _offline_connection(
        self, service: ResourceService, plan: FlowPlan, options: Mapping[str, Any]
    ) -> str | None:
        """The id of an offline connection the run would use, if any."""
        wanted = set(options.get("_exportIds") or [g.export_id for g in plan.generators])
        resources = [("exports", g.export_id) for g in plan.generators if g.export_id in wanted]
        resources += [
            ("imports" if s.kind == "import" else "exports", s.resource_id) for s in plan.steps
        ]
        for type_name, resource_id in resources:
            try:
                doc = service.get(REGISTRY[type_name], resource_id)
            except NotFound:
                continue
            connection_id = doc.get("_connectionId")
            if not connection_id:
                continue
            try:
                connection = service.get(REGISTRY["connections"], connection_id)
            except NotFound:
                continue
            if connection.get("offline"):
                return str(connection_id)
        return None

    def retry(
        self, account_id: str, flow_id: str, step_id: str, retry_data_keys: list[str]
    ) -> dict[str, Any]:
        """Queue a ``retry`` job re-running these records from the step where they failed."""
        with self.transaction() as session:
            service = self.service(session, account_id)
            service.get(REGISTRY["flows"], flow_id)
            found = errors_store.by_retry_keys(session, account_id, retry_data_keys)
            found_keys = {error.retry_data_key for error in found}
            missing = [key for key in retry_data_keys if key not in found_keys]
            if missing or not retry_data_keys:
                raise ValidationFailed.one(
                    "invalid_retry_data_key",
                    f"No retry data for: {', '.join(missing) or '(none given)'}.",
                    "retryDataKeys",
                )
            resolved = [e.retry_data_key for e in found if e.resolved]
            if resolved:
                raise ValidationFailed.one(
                    "error_resolved",
                    f"Resolved errors can't be retried: {', '.join(map(str, resolved))}.",
                    "retryDataKeys",
                )
            wrong = [
                e.retry_data_key for e in found if e.flow_id != flow_id or e.step_id != step_id
            ]
            if wrong:
                raise ValidationFailed.one(
                    "invalid_retry_data_key",
                    f"Not errors of this flow step: {', '.join(map(str, wrong))}.",
                    "retryDataKeys",
                )
            original = found[0].flow_job_id
            job, _ = jobs.create_queued(
                session,
                account_id,
                flow_id,
                type_="retry",
                options={"retryDataKeys": retry_data_keys, "stepId": step_id},
                retry_of_job_id=original,
            )
            view = jobs.job_view(job)
        self.queue.send(DISPATCH, flow_id)
        return view

    def cancel(self, account_id: str, job_id: str) -> dict[str, Any]:
        with self.transaction() as session:
            job = jobs.request_cancel(session, account_id, job_id)
            if job is None:
                raise NotFound(f"No job with id '{job_id}'.")
            view = jobs.job_view(job)
            flow_id = job.flow_id
            ended = job.status == "canceled"
        if ended and flow_id:
            self.queue.send(DISPATCH, flow_id)
        return view

    # -- dispatch ----------------------------------------------------------------------------

    def dispatch(self, flow_id: str) -> None:
        """Start the flow's next queued job if none is active (task body; idempotent)."""
        try:
            with self.transaction() as session:
                job = jobs.promote(session, flow_id)
                if job is None:
                    return
                generators = self._prepare(session, job)
                job_id = job.id
        except IntegrityError:
            return  # another dispatcher started a job of this flow at the same moment
        for index in generators:
            self.queue.send(EXPORT, job_id, index)
        if not generators:
            self.finish_if_done(job_id)

    def _prepare(self, session: Session, job: Job) -> list[int]:
        """Create the child jobs and fix the delta windows; the generators to run."""
        service = self.service(session, job.account_id)
        options = dict(job.options or {})
        try:
            flow = service.unsealed(REGISTRY["flows"], str(job.flow_id))
        except NotFound:
            job.generators = 0
            jobs.finish(session, job.id, "failed", "The flow was deleted.")
            return []
        plan = FlowPlan.of(flow)
        if job.type == "retry":
            step = plan.step_index(str(options.get("stepId")))
            options["start"] = step if step is not None else len(plan.steps)
            selected = [0]
            jobs.add_child(session, job, "export", 0)
        else:
            wanted = options.get("_exportIds")
            selected = [g.index for g in plan.generators if wanted is None or g.export_id in wanted]
            windows: dict[str, dict[str, str]] = {}
            for g in plan.generators:
                if g.index not in selected:
                    continue
                jobs.add_child(session, job, "export", g.index, export_id=g.export_id)
                try:
                    export = service.get(REGISTRY["exports"], g.export_id)
                except NotFound:
                    continue
                if delta.is_delta(export):
                    windows[g.export_id] = delta.window(
                        session, str(job.flow_id), export, job.started_at or jobs.now(), options
                    )
            options["windows"] = windows
            options["start"] = 0
        offset = len(plan.generators)
        for processor in plan.steps[int(options["start"]) :]:
            jobs.add_child(
                session,
                job,
                processor.kind,
                offset + processor.index,
                export_id=processor.resource_id if processor.kind == "export" else None,
                import_id=processor.resource_id if processor.kind == "import" else None,
            )
        job.options = options
        job.generators = len(selected)
        return selected

    # -- the export task ---------------------------------------------------------------------

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
                source, export, connection_id = self._page_source(
                    session, service, job, plan, generator, options
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
        status, message = "completed", None
        debug = source.debug
        try:
            for index, page in enumerate(source.pages()):
                if index < next_index:
                    continue  # stored by an earlier delivery of this task
                records, hook_errors, abort = self._pre_save_page(export, page, index, options)
                with self.transaction() as session:
                    jobs.lock(session, job_id)
                    session.add(
                        JobPage(
                            job_id=job_id,
                            generator=generator,
                            page_index=index,
                            records=orjson.dumps(records),
                            processed=False,
                        )
                    )
                    jobs.add_counts(
                        session,
                        [job_id, child.id],
                        num_export=len(page),
                        num_pages_generated=1,
                    )
                    if hook_errors:
                        self._record_generator_errors(
                            session, job, child, hook_errors, skip_retries, "pre_save_page_hook"
                        )
                    session.execute(
                        update(Job).where(Job.id == job_id).values(heartbeat_at=jobs.now())
                    )
                    stop = jobs.is_stopping(session, job_id)
                self.queue.send(PAGE, job_id, generator, index)
                if abort or stop:
                    break
        except AuthFailed as exc:
            status, message = "failed", f"The connection's credentials were refused ({exc})."
            self._set_offline(account_id, connection_id)
        except (IntegratorError, HookError, Exception) as exc:  # the export fails, not the worker
            status, message = "failed", _describe(exc)
            if not isinstance(exc, IntegratorError | HookError):
                log.exception("export of job %s failed", job_id)
        with self.transaction() as session:
            jobs.lock(session, job_id)
            job = jobs.get(session, job_id)
            assert job is not None
            child = jobs.child(session, job_id, "export", generator)
            assert child is not None
            if status == "failed":
                error = {"code": "export_failed", "message": message or "The export failed."}
                errors_store.record(
                    session,
                    self._where(job, child, child.export_id or "", generator, "pageGenerators"),
                    [(None, [error], None)],
                    keep_retry_data=False,
                    source="connection" if "credentials" in str(message) else "application",
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
    ) -> tuple[PageSource, dict[str, Any], str | None]:
        if job.type == "retry":
            keys = list(options.get("retryDataKeys") or [])
            found = errors_store.by_retry_keys(session, job.account_id, keys)
            records = [(error.retry_data_key, error.retry_data) for error in found]
            return RetryPages(records), {}, None
        entry = plan.generators[generator]
        export = service.unsealed(REGISTRY["exports"], entry.export_id)
        export["_id"] = entry.export_id
        connection_id = export.get("_connectionId")
        connection = service.unsealed(REGISTRY["connections"], str(connection_id))
        window = (options.get("windows") or {}).get(entry.export_id)
        context = delta.template_values(export, window) if window else None
        debug = debug_log_for(connection, export)
        on_token = self._token_listener(job.account_id, str(connection_id))
        return (
            ExportPages(export, connection, context, debug, on_token),
            export,
            str(connection_id),
        )

    def _pre_save_page(
        self,
        export: Mapping[str, Any],
        page: list[dict[str, Any]],
        index: int,
        options: Mapping[str, Any],
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
            )
        )
        failures: list[tuple[Any, list[dict[str, Any]], str | None]] = []
        if result.errors:
            failures.append((None, result.errors, None))
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
        where = self._where(job, child, child.export_id or "", child.o_index or 0, "pageGenerators")
        # A hook's new error with retry data retries from the first page processor.
        where = errors_store.Where(**{**where.__dict__, "stage": "pageProcessors.0"})
        count = errors_store.record(
            session, where, failures, keep_retry_data=not skip_retries, source=source
        )
        jobs.add_counts(session, [job.id, child.id], num_error=count)

    def _where(
        self, job: Job, child: Job | None, step_id: str, o_index: int, stage: str
    ) -> errors_store.Where:
        flow_job_id = job.retry_of_job_id if job.type == "retry" and job.retry_of_job_id else job.id
        return errors_store.Where(
            account_id=job.account_id,
            flow_id=job.flow_id,
            flow_job_id=flow_job_id,
            job_id=child.id if child is not None else job.id,
            step_id=step_id,
            o_index=o_index,
            stage=f"{stage}.{o_index}",
        )

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

    # -- the page task -----------------------------------------------------------------------

    def process_page(self, job_id: str, generator: int, page_index: int) -> None:
        """Run one stored page through the page processors (idempotent per page)."""
        with self.transaction() as session:
            job = jobs.get(session, job_id)
            page = session.get(JobPage, (job_id, generator, page_index))
            if job is None or page is None or page.processed:
                return
            canceled = job.status != "running"
            if canceled:
                jobs.lock(session, job_id)
                self._page_done(session, job_id, generator, page_index)
            else:
                payload = orjson.loads(page.records or b"[]")
                context = self._page_context(session, job, generator)
        if canceled:
            self.finish_if_done(job_id)
            return
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
            page_error = _describe(exc)
        except Exception as exc:  # one page never takes the worker down
            log.exception("page %s of job %s failed", page_index, job_id)
            page_error = _describe(exc)
        if outcome is None:
            outcome = _page_failed(context.plan, records, start, page_error or "The page failed.")
        elif job.type == "flow" and context.once_export is not None:
            # Before the page counts as processed, so the job never ends with marks pending.
            self._mark_once(context, records)
        with self.transaction() as session:
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
            if not claimed:
                return  # another delivery of this task wrote the outcome first
            jobs.lock(session, job_id)
            self._write_outcome(session, job, context, outcome, keys)
            jobs.add_counts(session, [job_id], num_pages_processed=1)
            export_child = jobs.child(session, job_id, "export", generator)
            if export_child is not None:
                jobs.add_counts(session, [export_child.id], num_pages_processed=1)
            for connection_id, log_ in context.debug_logs():
                save_debug_log(session, job.account_id, connection_id, None, log_)
        self.finish_if_done(job_id)

    def _page_done(self, session: Session, job_id: str, generator: int, page_index: int) -> None:
        changed = session.execute(
            update(JobPage)
            .where(
                JobPage.job_id == job_id,
                JobPage.generator == generator,
                JobPage.page_index == page_index,
                JobPage.processed.is_(False),
            )
            .values(processed=True, records=None)
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            jobs.add_counts(session, [job_id], num_pages_processed=1)

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
            self.hooks, {"_flowId": job.flow_id, "_integrationId": job.integration_id}
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
        parent_totals = {"num_success": 0, "num_error": 0, "num_ignore": 0}
        for step_index, counts in outcome.counts.items():
            child_id = context.step_jobs.get(step_index)
            deltas = {
                "num_success": counts.success,
                "num_error": counts.error,
                "num_ignore": counts.ignore,
            }
            if child_id:
                jobs.add_counts(session, [child_id], **deltas)
            for name, value in deltas.items():
                parent_totals[name] += value
        jobs.add_counts(session, [job.id], **parent_totals)
        for failure in outcome.failures:
            step = context.plan.steps[failure.step]
            where = self._where(
                job,
                None,
                step.resource_id,
                len(context.plan.generators) + step.index,
                "pageProcessors",
            )
            where = errors_store.Where(
                **{
                    **where.__dict__,
                    "job_id": context.step_jobs.get(step.index) or job.id,
                    "stage": f"pageProcessors.{step.index}",
                }
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

    # -- ending a job ------------------------------------------------------------------------

    def finish_if_done(self, job_id: str) -> None:
        """End the job when every generator finished and every page was processed."""
        with self.transaction() as session:
            job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
            if job is None or job.status not in ("running", "canceling"):
                return
            if job.generators_done < job.generators:
                return
            if job.num_pages_processed < job.num_pages_generated:
                return
            children = jobs.children(session, job_id)
            if job.status == "canceling":
                status = "canceled"
            elif any(c.type == "export" and c.status == "failed" for c in children):
                status = "failed"
            else:
                status = "completed"
            if not jobs.finish(session, job_id, status):
                return
            for child in children:
                jobs.finish(session, child.id, "canceled" if status == "canceled" else "completed")
            windows = (job.options or {}).get("windows") or {}
            if status == "completed" and job.type == "flow":
                for export_id, window in windows.items():
                    delta.commit(
                        session,
                        job.account_id,
                        str(job.flow_id),
                        export_id,
                        window["currentExportDateTime"],
                    )
            flow_id = job.flow_id
            account_id = job.account_id
            aggregate = self._post_aggregate_calls(session, job, status)
            next_flows: list[str] = []
            if status == "completed" and job.type == "flow":
                flow = self.service(session, account_id).get(REGISTRY["flows"], str(flow_id))
                next_flows = [str(item) for item in flow.get("_runNextFlowIds") or []]
        for ref, options in aggregate:
            try:
                self.hooks.call(ref, options)
            except Exception as exc:  # the job has ended: the hook's failure is only reported
                log.warning("postAggregate hook of job %s failed: %s", job_id, exc)
        if flow_id:
            self.queue.send(DISPATCH, flow_id)
        for next_flow in next_flows:
            try:
                self.run_flow(account_id, next_flow, scheduled=True)
            except IntegratorError as exc:
                log.warning("flow %s could not start after %s: %s", next_flow, flow_id, exc)

    def _post_aggregate_calls(
        self, session: Session, job: Job, status: str
    ) -> list[tuple[Any, dict[str, Any]]]:
        """``postAggregate`` hooks of the run's imports, with what integrator.io hands them
        (``postAggregateData``: success, counts in ``_json``, and why it failed)."""
        if status == "canceled":
            return []
        service = self.service(session, job.account_id)
        calls: list[tuple[Any, dict[str, Any]]] = []
        for child in jobs.children(session, job.id):
            if child.type != "import" or not child.import_id:
                continue
            try:
                doc = service.get(REGISTRY["imports"], child.import_id)
            except NotFound:
                continue
            ref = hook_ref(doc, "postAggregate")
            if ref is None:
                continue
            data = {
                "success": status == "completed" and child.num_error == 0,
                "_json": {"numSuccess": child.num_success, "numError": child.num_error,
                          "numIgnore": child.num_ignore},
                "code": None if status == "completed" else "job_failed",
                "message": job.message,
                "source": "application",
            }  # fmt: skip
            calls.append(
                (
                    ref,
                    {
                        "postAggregateData": data,
                        "_importId": child.import_id,
                        "_flowId": job.flow_id,
                    },
                )
            )
        return calls

    # -- connections -------------------------------------------------------------------------

    def _token_listener(self, account_id: str, connection_id: str) -> Callable[[TokenSet], None]:
        def store(tokens: TokenSet) -> None:
            with self.transaction() as session:
                self.service(session, account_id).store_tokens(
                    connection_id, tokens.access_token, tokens.refresh_token
                )

        return store

    def _set_offline(self, account_id: str, connection_id: str | None) -> None:
        if not connection_id:
            return
        with self.transaction() as session:
            self.service(session, account_id).set_offline(
                REGISTRY["connections"], connection_id, True
            )


class PageSource(Protocol):
    debug: DebugLog | None

    def pages(self) -> Iterator[list[dict[str, Any]]]: ...


class ExportPages:
    """A page generator's export, read through its adaptor (``once`` marks wait for the page
    processors: see ``FlowRunner.process_page``)."""

    def __init__(
        self,
        export: dict[str, Any],
        connection: dict[str, Any],
        context: Mapping[str, Any] | None,
        debug: DebugLog | None,
        on_token: Callable[[TokenSet], None],
    ) -> None:
        self.export = export
        self.connection = connection
        self.context = context
        self.debug = debug
        self.on_token = on_token

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        yield from registry.iter_export_pages(
            self.export,
            self.connection,
            self.debug,
            self.on_token,
            context=self.context,
            mark=False,
        )


class RetryPages:
    """A retry job's pages: ``[retryDataKey, record]`` pairs from the errors' retry data."""

    debug: DebugLog | None = None

    def __init__(self, records: list[tuple[Any, Any]]) -> None:
        self.records = records

    def pages(self) -> Iterator[list[Any]]:
        for start in range(0, len(self.records), RETRY_PAGE_SIZE):
            yield [list(pair) for pair in self.records[start : start + RETRY_PAGE_SIZE]]


class PageContext:
    """What a page task needs: the plan, each step's documents and connections, adaptor calls
    that keep debug logs and store renewed tokens."""

    def __init__(
        self, runner: FlowRunner, account_id: str, plan: FlowPlan, skip_retries: bool
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

    def build_run(self, hooks: HookRunner, hook_options: Mapping[str, Any]) -> None:
        by_id = {step.resource_id: step.index for step in self.plan.steps}

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
            )
            return found

        self.run = PageRun(self.plan, resources, call_import, call_lookup, hooks, hook_options)


def _page_failed(
    plan: FlowPlan, records: list[dict[str, Any]], start: int, message: str
) -> PageOutcome:
    """Every record of a page that could not be processed fails at the first step."""
    from integrator.engine.pipeline import Failure, StepCounts

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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, IntegratorError):
        return "; ".join(item.message for item in exc.items) or str(exc)
    return str(exc) or type(exc).__name__
