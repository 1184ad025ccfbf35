"""The conformance corpus: (case, model, config) triples.

`config` is relative to the repository root. configs/examples/*.yaml are the
YAML twins of the reference's config_api examples; tests/conformance/configs/
holds the precedence cases of reference sections 3.6-3.8.
"""

EXAMPLES = "configs/examples/"
PRECEDENCE = "tests/conformance/configs/"

# name: (model, config, what it exercises)
CASES = {
    # --- every example of the config API documentation -----------------------
    "attention_boundaries": ("mha", EXAMPLES + "attention_boundaries.yaml",
                             "module_input/output_spec on nn.MultiheadAttention"),
    "concat_output_unquantized": ("convnet", EXAMPLES + "concat_output_unquantized.yaml",
                                  "op_type_config concat, null output spec"),
    "mxfp4_qat_schedule": ("transformer", EXAMPLES + "mxfp4_qat_schedule.yaml",
                           "fp4 weights, fp8 activations, null Embedding type, "
                           "module name regex"),
    "only_linear_layers": ("transformer", EXAMPLES + "only_linear_layers.yaml",
                           "global_config null, Linear module type"),
    "only_one_op_by_name": ("deep_mlp", EXAMPLES + "only_one_op_by_name.yaml",
                            "op_name_config linear_23, everything else null"),
    "override_axis": ("convnet", EXAMPLES + "override_axis.yaml",
                      "int4 per-block weights, axis defaults, explicit axis"),
    "skip_linear_module_type": ("transformer", EXAMPLES + "skip_linear_module_type.yaml",
                                "null module type config, default W8A8"),
    "skip_linear_op_type": ("transformer", EXAMPLES + "skip_linear_op_type.yaml",
                            "null op_type_config"),
    "skip_softmax_in_module_name": ("transformer", EXAMPLES + "skip_softmax_in_module_name.yaml",
                                    "module name config inherited by children"),
    "skip_softmax_in_module_type": ("transformer", EXAMPLES + "skip_softmax_in_module_type.yaml",
                                    "type key without a dot"),
    "w_mxfp4_a_fp8": ("transformer", EXAMPLES + "w_mxfp4_a_fp8.yaml",
                      "fp4 weights with E8M0 scales, fp8 activations"),
    "weights_by_module_type": ("transformer", EXAMPLES + "weights_by_module_type.yaml",
                               "weight-only int4 per-block and int8 per-channel"),
    # --- W8A8 defaults on every model -------------------------------------------
    "default_convnet": ("convnet", PRECEDENCE + "default.yaml",
                        "conv-bn-relu QAT form, shared observers (pool, flatten, concat)"),
    "default_transformer": ("transformer", PRECEDENCE + "default.yaml",
                            "embedding, attention, residual add"),
    "default_bounded": ("bounded", PRECEDENCE + "default.yaml",
                        "op intrinsics: sigmoid, tanh, relu6, hardtanh, hardsigmoid, relu"),
    # --- precedence, reference sections 3.6-3.8 ------------------------------------
    "name_over_type": ("transformer", PRECEDENCE + "name_over_type.yaml",
                       "3.6: name level beats type level beats global"),
    "later_name_wins": ("transformer", PRECEDENCE + "later_name_wins.yaml",
                        "3.6: later name entry wins, parent swallows earlier child"),
    "type_order": ("transformer", PRECEDENCE + "type_order.yaml",
                   "3.6: later type entry wins across parent and child"),
    "op_name_over_op_type": ("deep_mlp", PRECEDENCE + "op_name_over_op_type.yaml",
                             "3.7: op_name over op_type over module default"),
    "module_specs_override": ("transformer", PRECEDENCE + "module_specs_override.yaml",
                              "3.8: module input/output/state specs over op level"),
    "module_null_disables": ("convnet", PRECEDENCE + "module_null_disables.yaml",
                             "3.8: module-level null removes op-level quantization"),
    "module_output_null_into_concat": ("convnet", PRECEDENCE + "module_output_null_into_concat.yaml",
                                       "3.8: module-level null on an edge into concat"),
    # --- 0.3.0 --------------------------------------------------------------------
    "dynamic_per_token": ("transformer", PRECEDENCE + "dynamic_per_token.yaml",
                          "dynamic calculator, per-token activations (per_block axis -1)"),
    "per_block_axes": ("convnet", PRECEDENCE + "per_block_axes.yaml",
                       "per_block weight axis -1 on a conv kernel, activation axis 1"),
}

MODEL_NAMES = sorted({m for m, _, _ in CASES.values()})
