"""st2's own schema rules, applied the way st2 applies them.

st2 does not validate with plain JSON Schema: ``st2common.util.schema``'s
``CustomValidator`` takes draft-3 ``required: true`` on each property,
rejects a draft-4 ``required: [...]`` list as a schema error, and lets an
optional property be null. A payload schema that breaks these rules makes
st2's sensor container drop every trigger with only a log warning, and a
config schema that breaks them fails ``st2-register-content``. So every check
here calls ``st2common.util.schema`` (st2's real module under
``st2-run-pack-tests``, the stand-in otherwise) with the arguments st2 uses.
"""

import yaml
from pack_paths import SENSOR_META
from st2common.util import schema as util_schema


def trigger_schemas():
    """Declared payload schemas by trigger ref (``poundcake.<name>``)."""
    with open(SENSOR_META) as fp:
        meta = yaml.safe_load(fp)
    return {f"poundcake.{t['name']}": t["payload_schema"] for t in meta["trigger_types"]}


def _validate(instance, schema):
    return util_schema.validate(
        instance=instance,
        schema=schema,
        cls=util_schema.CustomValidator,
        use_default=True,
        allow_default_none=True,
    )


def validate_trigger_payload(schema, payload):
    """As ``st2common.validators.api.reactor.validate_trigger_payload`` at dispatch."""
    return _validate(payload, schema)


def validate_resource_parameters(parameters, values):
    """As st2 validates an execution's parameters against its action's, or a
    policy's parameters against its policy type's (``PolicyAPI.validate``)."""
    return _validate(values, util_schema.get_schema_for_resource_parameters(parameters))


def validate_pack_config(config_schema, config):
    """As ``st2common.util.pack.validate_config_against_schema`` (unknown keys pass).

    Like st2, it also refuses ``decrypt_kv`` in a ``secret: true`` value:
    st2 decrypts those itself.
    """
    schema = util_schema.get_schema_for_resource_parameters(
        parameters_schema=config_schema, allow_additional_properties=True
    )
    cleaned = _validate(config, schema)
    for key, value in cleaned.items():
        is_jinja = isinstance(value, str) and ("{{" in value or "{%" in value)
        if is_jinja and "decrypt_kv" in value and config_schema.get(key, {}).get("secret"):
            raise ValueError(
                f'{key}: values specified as "secret: True" in config schema are '
                'automatically decrypted by default. Use of "decrypt_kv" jinja filter '
                "is not allowed for such values."
            )
    return cleaned


def validate_parameter_definitions(parameters):
    """As ``ActionAPI``/``ConfigSchemaAPI`` check each parameter at registration."""
    wrapper = {
        "type": "object",
        "properties": {
            "parameters": {
                "type": "object",
                "patternProperties": {r"^\w+$": util_schema.get_action_parameters_schema()},
                "additionalProperties": False,
            }
        },
    }
    return _validate({"parameters": parameters}, wrapper)


def check_payload_schema(schema):
    """What st2 does first on every dispatch: the payload schema must be valid for it."""
    util_schema.CustomValidator.check_schema(schema)
