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

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrator.engine import delta, jobs
from integrator.engine import joberrors as errors_store
from integrator.engine.export_task import ExportTask
from integrator.engine.hooks import (
    HookContext,
    hook_ref,
)
from integrator.engine.page_task import PageTask
from integrator.engine.pipeline import FlowPlan
from integrator.engine.steps import (
    DISPATCH,
    EXPORT,
    PAGE,
    SYSTEM_TOKEN,
    TaskQueue,
    hook_context,
    log,
)
from integrator.errors import IntegratorError, NotFound, ValidationFailed
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.models import Job


class FlowRunner(ExportTask, PageTask):
    """Everything that starts, advances and ends jobs; one per process."""

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
        for ref, options, calls in aggregate:
            try:
                self.hooks.call(ref, options, calls)
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
    ) -> list[tuple[Any, dict[str, Any], HookContext]]:
        """``postAggregate`` hooks of the run's imports, with what integrator.io hands them
        (``postAggregateData``: success, counts in ``_json``, and why it failed)."""
        if status == "canceled":
            return []
        service = self.service(session, job.account_id)
        calls: list[tuple[Any, dict[str, Any], HookContext]] = []
        context = hook_context(job, service.get(REGISTRY["flows"], str(job.flow_id)))
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
                    context,
                )
            )
        return calls


__all__ = ["DISPATCH", "EXPORT", "PAGE", "SYSTEM_TOKEN", "FlowRunner", "TaskQueue"]
