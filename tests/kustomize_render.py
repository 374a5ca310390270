"""A small kustomize for the tests: renders deploy/kubernetes without kubectl.

It implements only what those kustomizations use, by kustomize's own rules, and refuses any
other field rather than ignore it: resources (files and folders), components,
configMapGenerator / secretGenerator (env files and literals; create or merge), strategic
merge patches, namespace and images; then the content hash on generated names and the
references to them. Where kubectl is installed the tests compare its output with this one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "components",
    "configMapGenerator",
    "secretGenerator",
    "patches",
    "images",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
# Strategic merge: the lists of the kinds patched here that merge by a key (the rest replace),
# as the Kubernetes API declares them (x-kubernetes-patch-merge-key).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}
# Where a pod spec names a ConfigMap or Secret: (key holding the reference, its name field).
REFERENCES = {
    "ConfigMap": [("configMapRef", "name"), ("configMapKeyRef", "name"), ("configMap", "name")],
    "Secret": [("secretRef", "name"), ("secretKeyRef", "name"), ("secret", "secretName")],
}
_GENERATED = "__generated__"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not do, or is wrong."""


def render(folder: Path) -> list[Obj]:
    """The objects `kubectl kustomize folder` prints, in no particular order."""
    objects = _build(folder, [], component=False)
    _hash_generated_names(objects)
    for obj in objects:
        obj.pop(_GENERATED, None)
    return objects


def _build(folder: Path, objects: list[Obj], *, component: bool) -> list[Obj]:
    kustomization = _kustomization(folder)
    expected = "Component" if component else "Kustomization"
    if kustomization.get("kind", "Kustomization") != expected:
        raise KustomizeError(f"{folder}: expected a {expected}")
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{folder}: {', '.join(sorted(unknown))} not supported here")
    for entry in kustomization.get("resources", []):
        path = folder / entry
        objects += _build(path, [], component=False) if path.is_dir() else _load(path)
    for entry in kustomization.get("components", []):
        objects = _build(folder / entry, objects, component=True)
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in kustomization.get(key, []):
            _generate(folder, kind, generator, objects)
    for patch in kustomization.get("patches", []):
        _patch(folder, patch, objects)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] == "Namespace":  # kustomize renames the namespace itself
                obj["metadata"]["name"] = kustomization["namespace"]
            elif obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                container["image"] = _retag(container["image"], image)
    return objects


def _kustomization(folder: Path) -> Obj:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder} has no kustomization.yaml")
    return dict(yaml.safe_load(path.read_text()))


def _load(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _find(objects: list[Obj], kind: str, name: str) -> Obj | None:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) > 1:
        raise KustomizeError(f"{len(found)} objects are {kind} {name}")
    return found[0] if found else None


def _generate(folder: Path, kind: str, generator: Obj, objects: list[Obj]) -> None:
    unknown = set(generator) - {"name", "behavior", "envs", "literals"}
    if unknown:
        raise KustomizeError(f"{kind} generator {generator['name']}: {sorted(unknown)}")
    pairs: dict[str, str] = {}
    for env in generator.get("envs", []):
        pairs.update(read_env_file(folder / env))
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        pairs[key] = value
    data = {k: _encode(kind, v) for k, v in pairs.items()}
    behavior = generator.get("behavior", "create")
    existing = _find(objects, kind, generator["name"])
    if behavior == "create":
        if existing is not None:
            raise KustomizeError(f"{kind} {generator['name']} exists; use behavior: merge")
        obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
        if kind == "Secret":
            obj["type"] = "Opaque"
        obj["data"] = data
        obj[_GENERATED] = True
        objects.append(obj)
    elif behavior == "merge":
        if existing is None or not existing.get(_GENERATED):
            raise KustomizeError(f"no generated {kind} {generator['name']} to merge into")
        existing["data"] = {**existing.get("data", {}), **data}
    else:
        raise KustomizeError(f"{kind} {generator['name']}: behavior {behavior} not supported")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as kustomize reads them: the value verbatim (no quotes removed), `#`
    lines and blank lines skipped. A line without `=` would take its value from the
    environment of whoever renders; this renderer refuses it."""
    pairs = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        if not equals or not _ENV_NAME.match(key):
            raise KustomizeError(f"{path}:{number}: not a KEY=VALUE line")
        if key in pairs:  # kustomize refuses a generator that repeats a key
            raise KustomizeError(f"{path}:{number}: {key} is already set above")
        pairs[key] = value
    return pairs


def _encode(kind: str, value: str) -> str:
    return base64.b64encode(value.encode()).decode() if kind == "Secret" else value


def _patch(folder: Path, entry: Obj, objects: list[Obj]) -> None:
    if set(entry) != {"path"}:
        raise KustomizeError(f"{folder}: only patches with a path (strategic merge) supported")
    for patch in _load(folder / entry["path"]):
        target = _find(objects, patch["kind"], patch["metadata"]["name"])
        if target is None:
            raise KustomizeError(f"{entry['path']}: no {patch['kind']} {patch['metadata']['name']}")
        merge(target, patch)


def merge(target: Obj, patch: Obj) -> None:
    """Strategic merge patch of `patch` into `target`, in place: maps merge, null deletes,
    lists in MERGE_KEYS merge their items by that key, other lists are replaced."""
    for key, value in patch.items():
        if isinstance(key, str) and key.startswith("$"):
            raise KustomizeError(f"patch directive {key} not supported")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(target.get(key), list):
            # kustomize's order: the patch's items first (merged into their originals), then
            # the originals the patch does not name.
            by = MERGE_KEYS[key]
            originals = {item.get(by): item for item in target[key]}
            merged = []
            for item in value:
                original = originals.pop(item.get(by), {})
                merge(original, item)
                merged.append(original)
            target[key] = merged + list(originals.values())
        else:
            target[key] = copy.deepcopy(value)


def _containers(obj: Any) -> Iterator[Obj]:
    """Every container and init container anywhere in `obj` (pod templates of any kind)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _containers(item)


def _retag(image: str, entry: Obj) -> str:
    """kustomize's images transformer for one reference: name[:tag][@digest]."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    if name != entry["name"]:
        return image
    name = entry.get("newName", name)
    if "digest" in entry:
        return f"{name}@{entry['digest']}"
    tag = str(entry.get("newTag", tag))
    suffix = f"@{digest}" if digest and "newTag" not in entry else ""
    return name + (f":{tag}" if tag else "") + suffix


def _hash_generated_names(objects: list[Obj]) -> None:
    renamed: dict[str, dict[str, str]] = {"ConfigMap": {}, "Secret": {}}
    for obj in objects:
        if obj.get(_GENERATED):
            old = obj["metadata"]["name"]
            obj["metadata"]["name"] = f"{old}-{content_hash(obj)}"
            renamed[obj["kind"]][old] = obj["metadata"]["name"]
    for obj in objects:
        if not obj.get(_GENERATED):
            _rename_references(obj, renamed)


def content_hash(obj: Obj) -> str:
    """kustomize's name suffix: sha256 of the object's identifying JSON as Go's encoding/json
    writes it (keys sorted, <>& escaped), first ten hex digits with some letters swapped.

    The name is hashed empty, as kustomize 5 (kubectl 1.27 to 1.33) does: its hasher looks
    "metadata/name" up as a single field, finds none, and encodes "" in its place."""
    fields: Obj = {"kind": obj["kind"], "name": "", "data": obj["data"]}
    if obj["kind"] == "Secret":
        fields["type"] = obj["type"]
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escaped)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _rename_references(obj: Any, renamed: dict[str, dict[str, str]]) -> None:
    if isinstance(obj, dict):
        for kind, places in REFERENCES.items():
            for key, field in places:
                reference = obj.get(key)
                if isinstance(reference, dict) and reference.get(field) in renamed[kind]:
                    reference[field] = renamed[kind][reference[field]]
        for value in obj.values():
            _rename_references(value, renamed)
    elif isinstance(obj, list):
        for item in obj:
            _rename_references(item, renamed)
