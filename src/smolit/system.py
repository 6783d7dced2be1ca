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
from pathlib import Path

from smolit.agents.registry import AgentRegistry
from smolit.agents.spec import AgentSpec
from smolit.agents.supervisor import Supervisor
from smolit.config import Settings, process_environment
from smolit.errors import ConfigError, NotFoundError
from smolit.knowledge import KnowledgeManager
from smolit.models import ModelManager
from smolit.models.versions import ModelVersions
from smolit.routing.checkpoints import RouterCheckpoints
from smolit.routing.encoder import SentenceTransformerEncoder, TextEncoder
from smolit.routing.neural.model import RouterModel
from smolit.routing.neural.router import NeuralRouter
from smolit.routing.online import FeedbackLearner
from smolit.security.tokens import Principal, TokenService
from smolit.storage import Database
from smolit.tasks import TaskManager, TaskView
from smolit.tasks.feedback import FeedbackService

logger = logging.getLogger(__name__)

LOCAL_PRINCIPAL = Principal(user="local", role="admin", token_id="local")


class AgentNN:
    """Every part of one Agent-NN installation, wired together."""

    def __init__(
        self,
        settings: Settings,
        *,
        encoder: TextEncoder | None = None,
        models: ModelManager | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.database = Database(settings.database_url)
        self.tokens = TokenService(self.database, settings.security.token_bytes)
        self.agents = AgentRegistry(self.database)
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self.model_versions = ModelVersions(self.database, settings.models_dir)
        self.models = models or ModelManager(
            settings.models,
            environ=process_environment() if environ is None else environ,
            versions=self.model_versions,
        )
        self.models.use_registry(self.model_versions)
        self.knowledge = KnowledgeManager(settings.knowledge, settings.knowledge_dir, self.encoder)
        self.router = NeuralRouter(
            RouterModel.untrained(self.encoder(), settings.router.out_of_scope_threshold),
            FeedbackLearner(),
            explore=settings.router.explore,
        )
        self.feedback = FeedbackService(self.database, self.router)
        self.supervisor = Supervisor(
            self.agents, self.router, self.models, self.knowledge, settings.knowledge.top_k
        )
        self.tasks = TaskManager(
            self.database,
            self.supervisor,
            max_concurrent_tasks=settings.system.max_concurrent_tasks,
            task_timeout=settings.system.task_timeout,
            max_task_chars=settings.server.max_task_chars,
        )
        self._prepared = False

    def encoder(self) -> TextEncoder:
        """The shared sentence encoder, loaded on first use."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = SentenceTransformerEncoder(self.settings.knowledge.embedding_model)
            return self._encoder

    # --- lifecycle ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the data directory, migrate the database, load agents and knowledge."""
        if self._prepared:
            return
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.database.migrate()
        self.models.catalog.sync_config()
        specs = [AgentSpec.from_config(agent) for agent in self.settings.agents]
        self.agents.sync_from_config(specs)
        self._ingest_declared_knowledge(specs)
        if not self.load_router_checkpoint():
            self.router.set_agents(self.agents.list())
        self.agents.subscribe(self.router.set_agents)
        replayed = self.feedback.replay()
        if replayed:
            logger.info("router learned from %d stored feedback records", replayed)
        self._prepared = True

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

    async def start(self) -> None:
        await asyncio.to_thread(self.prepare)
        await self.tasks.start()

    async def stop(self) -> None:
        await self.tasks.stop()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        self.knowledge.close()
        self.models.close()
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
                await self.tasks.stop()

        return asyncio.run(once())
