"""HTTP routes for deployments, and the bundle and model files devices fetch."""

from __future__ import annotations

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import File

from api.auth import DEVICE_ROUTE, actor_of, device_of
from api.deployments.bundle import BundleService, etag_matches, etag_of
from api.deployments.schemas import Bundle, Deployment, DeploymentCreate, DeploymentPromote, DeploymentUpdate
from api.deployments.service import DeploymentService
from api.error_responses import errors
from api.validation import DeploymentName


class DeploymentController(Controller):
    """`/deployments`: create, list, read, promote, change, roll back, delete; the bundle and models for devices."""

    path = "/deployments"
    tags = ["deployments"]

    @get("/", responses=errors())
    async def list_deployments(self, deployments: NamedDependency[DeploymentService]) -> list[Deployment]:
        """Every deployment, by name."""
        return await deployments.list()

    @post("/", status_code=201, responses=errors(404, 409, 413, 422))
    async def create_deployment(
        self, request: Request, data: JSONBody[DeploymentCreate], deployments: NamedDependency[DeploymentService]
    ) -> Deployment:
        """Deploy a succeeded train job's model under a name (version 1); 404 unknown job, 409 name taken or a job
        without a model of that precision, 422 bad name or threshold."""
        return await deployments.create(data, actor_of(request))

    @get("/{name:str}", responses=errors(404, 422))
    async def get_deployment(self, name: DeploymentName, deployments: NamedDependency[DeploymentService]) -> Deployment:
        """One deployment with its history (newest first) and its devices."""
        return await deployments.read(name)

    @put("/{name:str}", responses=errors(404, 409, 413, 422))
    async def promote_deployment(
        self,
        name: DeploymentName,
        request: Request,
        data: JSONBody[DeploymentPromote],
        deployments: NamedDependency[DeploymentService],
    ) -> Deployment:
        """Promote another job's model (a new version, "promoted"); devices pick it up at their next poll."""
        return await deployments.promote(name, data, actor_of(request))

    @patch("/{name:str}", responses=errors(404, 409, 413, 422))
    async def update_deployment(
        self,
        name: DeploymentName,
        request: Request,
        data: JSONBody[DeploymentUpdate],
        deployments: NamedDependency[DeploymentService],
    ) -> Deployment:
        """Change `threshold` (a new version, "updated"; null: the job's calibrated one) or `description`."""
        return await deployments.update(name, data, actor_of(request))

    @post("/{name:str}/rollback", status_code=200, responses=errors(404, 409, 422))
    async def rollback_deployment(
        self, name: DeploymentName, request: Request, deployments: NamedDependency[DeploymentService]
    ) -> Deployment:
        """Back to the job, threshold and precision of the version before the current one (a new version)."""
        return await deployments.rollback(name, actor_of(request))

    @delete("/{name:str}", status_code=204, responses=errors(404, 422))
    async def delete_deployment(self, name: DeploymentName, deployments: NamedDependency[DeploymentService]) -> None:
        """Delete a deployment; its devices' tokens stop working."""
        await deployments.delete(name)

    @get("/{name:str}/bundle", opt=DEVICE_ROUTE, responses=errors(404, 409, 422))
    async def get_bundle(
        self, name: DeploymentName, request: Request, deployments: NamedDependency[DeploymentService]
    ) -> Response[Bundle]:
        """The manifest a device runs (model, threshold, window); `If-None-Match` with its ETag gives 304. Device
        tokens read their own deployment's; a device's `X-Wake-Edge-Version` and `X-Wake-Edge-Model-Sha256` are
        recorded as what it runs."""
        body = await BundleService(deployments).manifest(
            name,
            device_of(request),
            running_version=request.headers.get("x-wake-edge-version"),
            running_sha256=request.headers.get("x-wake-edge-model-sha256"),
        )
        etag = etag_of(body)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(content=b"", status_code=304, headers=headers)
        return Response(content=body, media_type="application/json", headers=headers)

    @get(
        "/{name:str}/models/{sha256:str}",
        opt=DEVICE_ROUTE,
        media_type="application/octet-stream",
        responses=errors(404, 422),
    )
    async def get_model(
        self,
        name: DeploymentName,
        sha256: FromPath[str],
        request: Request,
        deployments: NamedDependency[DeploymentService],
    ) -> File:
        """The model file with this sha256, if the deployment ever served it (ETag: the sha256)."""
        model = await BundleService(deployments).model(name, sha256, device_of(request))
        return File(
            path=model.path,
            filename=f"{name}-{model.sha256[:8]}-{model.path.name}",
            media_type="application/octet-stream",
            headers={"ETag": f'"{model.sha256}"'},
        )
