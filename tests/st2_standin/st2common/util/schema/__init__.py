"""Stand-in for ``st2common.util.schema``: how st2 validates schemas and payloads.

st2 keeps its meta-schemas as "draft-04 with st2's changes", under the
draft-04 id. The two the pack meets: ``custom`` (boolean ``required`` as in
draft 3, plus ``position``, ``immutable``, ``secret`` and ``format``) and
``action_params`` (the same, but ``type`` must be one simple type and
``format`` is not a keyword). They are built here from jsonschema's own
draft-04 meta-schema with those changes instead of being copied from st2.

``CustomValidator`` checks a schema against ``custom`` (without its root
``additionalProperties: false``), validates ``properties`` the draft-3 way
(a property with ``required: true`` must be present) and has no ``required``
keyword at all, so a draft-4 ``required: [...]`` list is a schema error.
``validate`` assigns defaults, lets optional properties with no default be
null (``allow_default_none``) and resolves every nested ``$ref: "#"`` to
``custom``, as st2 3.9+ does (3.8 resolved it to ``custom`` without
``additionalProperties: false``, so it also let unknown keywords through in
nested schemas; the stand-in keeps the stricter rule).
"""

import copy

import jsonschema
from jsonschema.validators import Draft3Validator, Draft4Validator, RefResolver, create

DRAFT4_ID = "http://json-schema.org/draft-04/schema#"
_SIMPLE_TYPE = {"$ref": "#/definitions/simpleTypes"}


def _st2_meta_schema(single_type, with_format):
    schema = copy.deepcopy(Draft4Validator.META_SCHEMA)
    props = schema["properties"]
    props["required"] = {"type": "boolean", "default": False}
    props["position"] = {"type": "number", "minimum": 0}
    props["immutable"] = {"type": "boolean", "default": False}
    props["secret"] = {"type": "boolean", "default": False}
    if with_format:
        props["format"] = {"type": "string"}
    else:
        props.pop("format", None)
    if single_type:
        props["type"] = {"anyOf": [_SIMPLE_TYPE]}
    schema["additionalProperties"] = False
    return schema


SCHEMAS = {
    "custom": _st2_meta_schema(single_type=False, with_format=True),
    "action_params": _st2_meta_schema(single_type=True, with_format=False),
}


def get_draft_schema(version="custom", additional_properties=False):
    schema = copy.deepcopy(SCHEMAS[version])
    if additional_properties and "additionalProperties" in schema:
        del schema["additionalProperties"]
    return schema


SCHEMA_ANY_TYPE = {
    "anyOf": [{"type": t} for t in ("array", "boolean", "integer", "number", "object", "string")]
}


def get_schema_for_resource_parameters(parameters_schema, allow_additional_properties=False):
    """An object schema whose properties are the parameters (an empty one means any)."""
    properties = {k: v if v else SCHEMA_ANY_TYPE for k, v in parameters_schema.items()}
    if not properties:
        return {}
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": allow_additional_properties,
    }


def get_action_parameters_schema(additional_properties=False):
    """The schema every action parameter and config schema attribute must match."""
    return get_draft_schema(version="action_params", additional_properties=additional_properties)


_DRAFT4_KEYWORDS = (
    "$ref additionalItems additionalProperties allOf anyOf dependencies enum format items "
    "maxItems maxLength maxProperties maximum minItems minLength minProperties minimum "
    "multipleOf not oneOf pattern patternProperties type uniqueItems"
).split()
_VALIDATORS = {name: Draft4Validator.VALIDATORS[name] for name in _DRAFT4_KEYWORDS}
_VALIDATORS["properties"] = Draft3Validator.VALIDATORS["properties"]

CustomValidator = create(
    meta_schema=get_draft_schema(version="custom", additional_properties=True),
    validators=_VALIDATORS,
    version="custom_validator",
)


VALIDATORS = {"draft4": Draft4Validator, "custom": CustomValidator}


def get_validator(version="custom"):
    """The validator class st2 uses (``custom``: ``CustomValidator``)."""
    return VALIDATORS[version]


def validate(
    instance, schema, cls=None, use_default=True, allow_default_none=False, *args, **kwargs
):
    """Validate ``instance``; return it with defaults assigned (st2's signature)."""
    instance = copy.deepcopy(instance)
    if use_default and allow_default_none:
        schema = modify_schema_allow_default_none(schema=schema)
    if use_default and schema.get("type") == "object" and isinstance(instance, dict):
        instance = assign_default_values(instance=instance, schema=schema)
    resolver = RefResolver(base_uri="", referrer=schema, store={DRAFT4_ID: SCHEMAS["custom"]})
    kwargs.setdefault("resolver", resolver)
    jsonschema.validate(instance, schema, cls, *args, **kwargs)
    return instance


def _types(schema):
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind]


def assign_default_values(instance, schema):
    """Fill missing (or None) properties that declare a ``default``, recursively."""
    instance = copy.deepcopy(instance)
    if isinstance(instance, dict) and "object" in _types(schema):
        for name, prop in schema.get("properties", {}).items():
            if "default" in prop and instance.get(name) is None:
                instance[name] = prop["default"]
            if instance.get(name) is not None:
                instance[name] = assign_default_values(instance[name], prop)
    elif isinstance(instance, list) and "array" in _types(schema):
        items = schema.get("items") or []
        items = [items] * len(instance) if isinstance(items, dict) else items
        for index, item_schema in enumerate(items[: len(instance)]):
            if "default" in item_schema and instance[index] is None:
                instance[index] = item_schema["default"]
            if instance[index] is not None:
                instance[index] = assign_default_values(instance[index], item_schema)
    return instance


def modify_schema_allow_default_none(schema):
    """Let each optional property whose default is None (or absent) also be null."""
    schema = copy.deepcopy(schema)
    for name, prop in schema.get("properties", {}).items():
        optional = not prop.get("required", False)
        if (optional or "default" in prop) and prop.get("default") is None:
            for key in ("anyOf", "oneOf"):
                if key in prop:
                    if not any(isinstance(s, dict) and s.get("type") == "null" for s in prop[key]):
                        prop[key].append({"type": "null"})
                    break
            else:
                kind = prop.get("type", "string")
                if isinstance(kind, list):
                    if "null" not in kind:
                        kind.append("null")
                elif kind != "null":
                    prop["type"] = [kind, "null"]
        items = prop.get("items")
        if "array" in _types(prop) and isinstance(items, dict) and items.get("properties"):
            prop["items"] = modify_schema_allow_default_none(items)
        if "object" in _types(prop) and prop.get("properties"):
            schema["properties"][name] = modify_schema_allow_default_none(prop)
    return schema
