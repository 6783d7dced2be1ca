"""The composition root: builds every manager from ``Settings``, starts and stops them.

``AgentNN`` is also the Python API for embedding the whole system in a program::

    from smolit import AgentNN
    from smolit.config import load_settings

    system = AgentNN(load_settings())
    view = system.run_sync("How long should I boil an egg?")
    print(view.agent, view.answer)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smolit.agents.registry import AgentRegistry
from smolit.agents.spec import AgentSpec
from smolit.agents.supervisor import Supervisor
from smolit.agents.toolbox import AgentToolbox, LoopBounds
from smolit.backup import BackupManager
from smolit.cache import CacheManager
from smolit.config import Settings, process_environment
from smolit.encoding.base import TextEncoder
from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.errors import ConfigError, NotFoundError, ValidationError
from smolit.knowledge import KnowledgeManager
from smolit.knowledge.updates import JOB_NAME as KNOWLEDGE_SYNC_JOB
from smolit.knowledge.updates import KnowledgeUpdater
from smolit.metrics.task_counts import TaskRollups
from smolit.models import ModelManager
from smolit.models.base import GenerationResultCodec
from smolit.models.versions import ModelVersions
from smolit.monitor.resources import ResourceMonitor
from smolit.periodic import repeat
from smolit.redact import register_secrets, url_password
from smolit.routing.checkpoints import RouterCheckpoints
from smolit.routing.neural.model import RouterModel
from smolit.routing.neural.router import NeuralRouter
from smolit.routing.online import FeedbackLearner, OnlineSettings
from smolit.routing.tool_selection import ToolSelector
from smolit.security.atrest import load_at_rest_keys
from smolit.security.deployment_key import deployment_key
from smolit.security.egress import EgressPolicy
from smolit.security.secrets import operator_secrets
from smolit.security.tokens import Principal, TokenService
from smolit.storage import Database
from smolit.storage.changes import AGENTS, MODELS, ROUTER, ChangeWatcher, bump
from smolit.storage.private import private_home
from smolit.tasks import TaskManager, TaskView
from smolit.tasks.feedback import FeedbackService
from smolit.tasks.heartbeat import HEARTBEAT_SECONDS, WorkerHeartbeat
from smolit.tasks.manager import REQUEUE_INTERVAL
from smolit.tasks.queue_backends import open_queue
from smolit.tasks.scheduler import JobScheduler
from smolit.tasks.store import TaskStore
from smolit.tasks.worker_registry import WorkerRegistry
from smolit.tools.context import ToolContext
from smolit.tools.registry import ToolRegistry

logger = logging.getLogger(__name__)

LOCAL_PRINCIPAL = Principal(user="local", role="admin", token_id="local")
FEEDBACK_SYNC_SECONDS = 2.0


class AgentNN:
    """Every part of one Agent-NN installation, wired together."""

    def __init__(
        self,
        settings: Settings,
        *,
        encoder: TextEncoder | None = None,
        models: ModelManager | None = None,
        environ: Mapping[str, str] | None = None,
        worker_concurrency: int | None = None,
    ) -> None:
        """A server by default: with ``queue: local`` it runs the tasks itself, with a
        remote queue (``queue: redis://...``) it only hands them on. ``worker_concurrency``:
        a ``smolit worker`` process, running that many tasks from the remote queue at once."""
        self.settings = settings
        self.distributed = settings.queue != "local"
        #: the remote queue (None: ``queue: local``), chosen by the queue factory
        self.queue = open_queue(settings)
        environ = process_environment() if environ is None else environ
        self.secrets = operator_secrets(settings, environ)
        self._register_masks()
        private_home(settings.home)  # 0700: everything below it is this installation's
        #: encryption at rest (None when off): the database, knowledge, uploads, indexes
        self.keys = load_at_rest_keys(settings, environ)
        self.database = Database(
            settings.database_url, key=self.keys.database if self.keys else None
        )
        self.tokens = TokenService(
            self.database,
            settings.security.token_bytes,
            cache_seconds=settings.security.token_cache_seconds,
        )
        #: the installation's tools, made once; agents call those they list
        self.tools = self._load_tools(environ)
        self.toolbox = AgentToolbox(
            self.tools,
            bounds=LoopBounds(settings.tools.max_steps, settings.tools.max_tool_calls),
        )
        self.agents = AgentRegistry(self.database, check=self.toolbox.check)
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self._environ = environ
        self.cache = CacheManager.from_settings(
            settings, key=self._deployment_key, response_codec=GenerationResultCodec()
        )
        self.egress = EgressPolicy.from_settings(settings.security)
        self.model_versions = ModelVersions(self.database, settings.models_dir)
        self.models = models or ModelManager(
            settings.models, self.secrets, versions=self.model_versions, egress=self.egress
        )
        self.models.use_registry(self.model_versions)
        self.models.use_response_cache(self.cache.response)
        self.knowledge = KnowledgeManager(
            settings.knowledge,
            settings.knowledge_dir,
            self.encoder,
            allowed_roots=settings.knowledge_roots,
            uploads_dir=settings.uploads_dir,
            egress=self.egress,
            keys=self.keys,
        )
        self.knowledge_updater = KnowledgeUpdater(self.knowledge)
        self.router = NeuralRouter(
            RouterModel.untrained(self.encoder(), settings.router.out_of_scope_threshold),
            FeedbackLearner(OnlineSettings(user_cap=settings.security.feedback_user_cap)),
            explore=settings.router.explore,
        )
        self.feedback = FeedbackService(self.database, self.router)
        self.workers = WorkerRegistry(self.database, stale_after=3 * HEARTBEAT_SECONDS)
        self.supervisor = Supervisor(
            self.agents,
            self.router,
            self.models,
            self.knowledge,
            settings.knowledge.top_k,
            served=self.workers.served_agents
            if self.distributed and worker_concurrency is None
            else None,
            toolbox=self.toolbox,
            tool_selector=ToolSelector(self.encoder()),
        )
        self.tasks = TaskManager(
            TaskStore(self.database),
            self.supervisor,
            settings,
            self.queue,
            worker_id=WorkerRegistry.new_id("worker") if worker_concurrency else None,
        )
        #: this process advertises itself when it runs tasks (embedded server, worker)
        self.heartbeat: WorkerHeartbeat | None = None
        if worker_concurrency or not self.distributed:
            self.heartbeat = WorkerHeartbeat(
                self.workers,
                self.supervisor,
                self.tasks.runner,
                "worker" if worker_concurrency else "embedded",
                worker_concurrency or settings.system.max_concurrent_tasks,
            )
        #: agents, router and model aliases changed by other processes reach this one
        self.changes = ChangeWatcher(
            self.database,
            {
                AGENTS: self.agents.reload,
                ROUTER: self.load_router_checkpoint,
                MODELS: self._models_changed,
            },
        )
        self.scheduler = JobScheduler(self.database, WorkerRegistry.new_id("process"))
        if self.distributed:
            self.scheduler.add("requeue-overdue-tasks", REQUEUE_INTERVAL, self.tasks.requeue_due)
        self.scheduler.add("prune-workers", 3600, self.workers.prune)
        # the first re-sync comes one interval after the deployment first starts:
        # declared knowledge is ingested by prepare()
        self.scheduler.add(
            KNOWLEDGE_SYNC_JOB,
            settings.knowledge.update_interval,
            self.knowledge_updater.sync,
            run_at_start=False,
        )
        self.scheduler.add(
            "cache-cleanup", settings.cache.cleanup_interval, self.cache.cleanup_shared
        )
        self.task_rollups = TaskRollups(self.database, self.scheduler.owner)
        self.scheduler.add(
            "metric-rollups", settings.system.metrics_rollup_interval, self.task_rollups.refresh
        )
        self.backups = BackupManager(settings, environ)
        self.scheduler.add("backup", settings.system.backup_interval, self._scheduled_backup)
        self.resources = ResourceMonitor(
            settings.home,
            interval=settings.system.monitor_interval,
            history=settings.system.monitor_history,
        )
        self._background: list[asyncio.Task[None]] = []
        self._prepared = False

    def _register_masks(self) -> None:
        """Every secret value this process can read, and the passwords of the storage and
        Redis URLs, are masked in each log record and error of this process."""
        settings = self.settings
        register_secrets(
            [
                *self.secrets.known_values(),
                *(
                    url_password(url or "")
                    for url in (settings.database_url, settings.queue, settings.cache.redis_url)
                ),
            ]
        )

    def _load_tools(self, environ: Mapping[str, str]) -> ToolRegistry:
        """The tools of ``tools.sources``, each source's factory given its settings; a
        ``ConfigError`` naming the source when one cannot be made."""
        registry = ToolRegistry(context=ToolContext.from_settings(self.settings, environ))
        for index, source in enumerate(self.settings.tools.sources):
            try:
                registry.load(source.factory, source.settings)
            except ConfigError as exc:
                raise ConfigError(
                    f"tools.sources[{index}]: {exc.message}",
                    details={**exc.details, "key": f"tools.sources[{index}]"},
                ) from exc
        return registry

    def _deployment_key(self) -> bytes:
        """The key sealing shared cache values (the caches resolve it on first use)."""
        return deployment_key(self.settings, self.database, self._environ)

    def encoder(self) -> TextEncoder:
        """The shared sentence encoder, loaded on first use."""
        with self._encoder_lock:
            if self._encoder is None:
                # the router and the knowledge base share one embedding cache
                self._encoder = self.cache.cached_encoder(
                    SentenceTransformerEncoder(self.settings.knowledge.embedding_model)
                )
            return self._encoder

    # --- lifecycle ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the data directory, migrate the database, load agents and knowledge."""
        if self._prepared:
            return
        private_home(self.settings.home)
        self.database.migrate()
        self.changes.poll()  # from here on, changes elsewhere reach this process
        self.cache.signer.resolve()  # the deployment key: configured, or made once here
        self.models.catalog.sync_config()
        specs = [AgentSpec.from_config(agent) for agent in self.settings.agents]
        try:
            self.agents.sync_from_config(specs)
        except ValidationError as exc:
            raise ConfigError(f"agents: {exc.message}", details=exc.details) from exc
        self._warn_of_missing_tools()
        self._ingest_declared_knowledge(specs)
        if not self.load_router_checkpoint():
            self.router.set_agents(self.agents.list())
        self.agents.subscribe(self.router.set_agents)
        replayed = self.feedback.replay()
        if replayed:
            logger.info("router learned from %d stored feedback records", replayed)
        self._prepared = True

    def _warn_of_missing_tools(self) -> None:
        """Agents added through the API may list a tool a source no longer makes: they
        run without it."""
        known = set(self.toolbox.names())
        for spec in self.agents.list():
            missing = [name for name in spec.tool_names() if name not in known]
            if missing:
                logger.warning(
                    "agent %s lists tools no source makes now: %s", spec.name, ", ".join(missing)
                )

    def load_router_checkpoint(self) -> bool:
        """Serve the trained router ``router.checkpoint`` names, if one is registered."""
        reference = self.settings.router.checkpoint
        try:
            loaded = RouterCheckpoints(self.model_versions).load(reference)
        except NotFoundError as exc:
            raise ConfigError(f"router.checkpoint: {exc.message}") from exc
        if loaded is None:
            logger.info("no trained router registered: routing with the base encoder")
            return False
        version, model = loaded
        self.router.replace_model(model, f"{version.name}@{version.version}", self.agents.list())
        logger.info("routing with %s@%d", version.name, version.version)
        return True

    def reload_router(self) -> bool:
        """Load the router checkpoint again, here and (within a poll) in every process."""
        loaded = self.load_router_checkpoint()
        with self.database.session() as session:
            bump(session, ROUTER)
        return loaded

    def _models_changed(self) -> None:
        """A model alias moved elsewhere: resolve references again; serve the router
        checkpoint ``router.checkpoint`` now names if that moved."""
        self.models.invalidate()
        try:
            version = self.model_versions.resolve(self.settings.router.checkpoint)
        except NotFoundError:  # its alias is gone: keep serving the loaded router
            return
        if version is not None and version.key != self.router.version:
            self.load_router_checkpoint()

    def _ingest_declared_knowledge(self, specs: list[AgentSpec]) -> None:
        base = self.settings.config_file.parent if self.settings.config_file else Path.cwd()
        for spec in specs:
            if not spec.knowledge_collection:
                continue
            for raw in spec.knowledge_paths:
                path = Path(raw).expanduser()
                path = path if path.is_absolute() else base / path
                report = self.knowledge.ingest_path(spec.knowledge_collection, path)
                for error in report.errors:
                    logger.warning("knowledge %s: %s: %s", spec.name, error.path, error.message)
                logger.info(
                    "knowledge %s: %d added, %d updated, %d unchanged",
                    spec.knowledge_collection,
                    report.added,
                    report.updated,
                    report.unchanged,
                )

    def open(self) -> None:
        """Check the remote queue (``ConfigError`` naming it when it is down), then prepare:
        what every process does before it serves (blocking; ``start`` calls it)."""
        if self.queue is not None:
            self.queue.check()
        self.prepare()

    async def start(self) -> None:
        """The one start-up of a process that serves: the API server (from its lifespan)
        and ``smolit worker`` (on its event loop) both call it."""
        # database writes, routing and model calls of running tasks all run in worker
        # threads: enough for every task at once (the default is cores + 4)
        concurrency = self.heartbeat.concurrency if self.heartbeat else 0
        threads = max(concurrency, self.settings.system.max_concurrent_tasks) + 8
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="smolit")
        )
        await asyncio.to_thread(self.open)
        await self.tasks.start()
        self.start_background()

    async def stop(self) -> None:
        await self.stop_background()
        await self.tasks.stop()
        if self.heartbeat is not None:
            await asyncio.to_thread(self.heartbeat.withdraw)
        await self.tools.aclose()
        await asyncio.to_thread(self.close)

    def start_background(self) -> None:
        """Periodic work of this process (call from its event loop)."""
        self.cache.start()
        self.scheduler.start()
        self._background.append(asyncio.create_task(self.resources.run(), name="resources"))
        self._background.append(asyncio.create_task(self.changes.run(), name="changes"))
        if self.distributed:
            self._background.append(
                asyncio.create_task(self._sync_feedback(), name="feedback-sync")
            )
        if self.heartbeat is not None:
            self._background.append(asyncio.create_task(self.heartbeat.run(), name="heartbeat"))

    async def stop_background(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self.scheduler.stop()

    async def _sync_feedback(self) -> None:
        """Learn the feedback other processes stored: the router state is shared through
        the database, not process memory."""
        await repeat(self.feedback.sync, FEEDBACK_SYNC_SECONDS, "feedback sync", wait_first=True)

    def _scheduled_backup(self) -> None:
        info = self.backups.create()
        logger.info("scheduled backup %s written (%d bytes)", info.id, info.size_bytes)

    def close(self) -> None:
        self.knowledge.close()
        self.models.close()
        self.cache.close()
        self.database.dispose()

    # --- the Python API -----------------------------------------------------------------

    async def run(self, text: str, principal: Principal = LOCAL_PRINCIPAL) -> TaskView:
        """Submit a task and wait for its result (the system must be started)."""
        view = await self.tasks.submit(text, principal)
        return await self.tasks.get(view.id, principal, wait=self.settings.system.task_timeout + 5)

    def run_sync(self, text: str) -> TaskView:
        """Start the system, run one task, stop: for scripts and notebooks."""

        async def once() -> TaskView:
            await self.start()
            try:
                return await self.run(text)
            finally:
                await self.stop_background()
                await self.tasks.stop()

        return asyncio.run(once())
