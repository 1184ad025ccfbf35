#!/usr/bin/env bash
# End-to-end checks of the coreai-opt CLI.
#   cli_test.sh COREAI_OPT_BINARY SOURCE_DIR CASE [FIXTURES_DIR]
# CASE: examples | bad_configs | several_files | normalize | help | usage_errors |
#       quantize_errors (needs FIXTURES_DIR: the graph-mode fixtures and calibration
#       data that tests/torch/jit/make_fixtures.py writes)
# Golden error lines come from tests/data/bad_configs/NAME.expected (the
# `validate` output without its leading `FILE:`).
set -u

bin=$1
src=$2
case_name=$3
fixtures=${4:-}
examples_dir=$src/configs/examples
bad_dir=$src/tests/data/bad_configs

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run ARGS...: runs the binary; sets rc, out (stdout) and err (stderr).
run() {
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

expect_rc() {  # expect_rc WANT WHAT
  [[ $rc == "$1" ]] || fail "$2: exit status $rc, want $1 (stderr: $err)"
}

expect_contains() {  # expect_contains TEXT NEEDLE WHAT
  [[ $1 == *"$2"* ]] || fail "$3: output lacks '$2'; got:"$'\n'"$1"
}

shopt -s nullglob
examples=("$examples_dir"/*.yaml)
bad=("$bad_dir"/*.yaml)
shopt -u nullglob
((${#examples[@]} > 0)) || fail "no examples in $examples_dir"
((${#bad[@]} >= 35)) || fail "only ${#bad[@]} bad configs in $bad_dir (want >= 35)"

expected_line() {  # expected_line YAML -> the golden line, prefixed with YAML:
  local exp=${1%.yaml}.expected
  [[ -f $exp ]] || { fail "$exp missing"; return; }
  printf '%s:%s' "$1" "$(head -n 1 "$exp")"
}

case $case_name in
  examples)
    run validate "${examples[@]}"
    expect_rc 0 "validate configs/examples/*.yaml"
    [[ -z $err ]] || fail "validate of the examples wrote to stderr: $err"
    for f in "${examples[@]}"; do
      expect_contains "$out" "$f: ok" "validate examples"
    done
    ;;

  bad_configs)
    for f in "${bad[@]}"; do
      run validate "$f"
      expect_rc 1 "validate $f"
      want=$(expected_line "$f")
      [[ $err == "$want" ]] || fail "validate $f:"$'\n'"  got:  $err"$'\n'"  want: $want"
      [[ -z $out ]] || fail "validate $f wrote to stdout: $out"
    done
    ;;

  several_files)
    # A valid file among invalid ones: one error line per invalid file, in order.
    files=("${bad[0]}" "${examples[0]}" "${bad[@]:1}")
    run validate "${files[@]}"
    expect_rc 1 "validate of several files"
    want=""
    for f in "${bad[@]}"; do
      want+="$(expected_line "$f")"$'\n'
    done
    want=${want%$'\n'}
    [[ $err == "$want" ]] || fail "validate of several files: stderr differs:"$'\n'"$(diff <(echo "$want") <(echo "$err"))"
    [[ $(wc -l <"$tmp/err") == "${#bad[@]}" ]] || fail "want ${#bad[@]} stderr lines"
    [[ $out == "${examples[0]}: ok" ]] || fail "validate of several files: stdout '$out'"
    ;;

  normalize)
    for f in "${examples[@]}"; do
      name=$(basename "$f" .yaml)
      run normalize "$f"
      expect_rc 0 "normalize $f"
      [[ $out == "{"* ]] || fail "normalize $f: not a JSON object: ${out:0:80}"
      expect_contains "$out" '"quantization_config"' "normalize $f"
      expect_contains "$out" '"global_config"' "normalize $f"
      cp "$tmp/out" "$tmp/$name.json"
      run normalize "$tmp/$name.json"
      expect_rc 0 "normalize $tmp/$name.json"
      cmp -s "$tmp/$name.json" "$tmp/out" || fail "normalize of $name.json differs from the first pass:"$'\n'"$(diff "$tmp/$name.json" "$tmp/out" | head -20)"
    done
    run normalize "${bad[0]}"
    expect_rc 1 "normalize of an invalid config"
    [[ $err == "$(expected_line "${bad[0]}")" ]] || fail "normalize ${bad[0]}: stderr '$err'"
    ;;

  help)
    run --help
    expect_rc 0 "--help"
    expect_contains "$out" "usage: coreai-opt COMMAND" "--help"
    for c in validate normalize schema; do
      expect_contains "$out" "$c" "--help"
    done
    run validate --help
    expect_rc 0 "validate --help"
    expect_contains "$out" "usage: coreai-opt validate FILE..." "validate --help"
    expect_contains "$out" "FILE:LINE:COL: error: CONFIG.PATH: message" "validate --help"
    expect_contains "$out" "Exit status 0" "validate --help"
    run normalize --help
    expect_rc 0 "normalize --help"
    expect_contains "$out" "usage: coreai-opt normalize" "normalize --help"
    expect_contains "$out" "canonical JSON" "normalize --help"
    run schema --help
    expect_rc 0 "schema --help"
    expect_contains "$out" "usage: coreai-opt schema" "schema --help"
    if "$bin" --help | grep -q "^  quantize "; then
      run quantize --help
      expect_rc 0 "quantize --help"
      expect_contains "$out" "usage: coreai-opt quantize MODEL.pt --config CONFIG.yaml [--calibration DATA.pt]" \
        "quantize --help"
      expect_contains "$out" 'torch.save(batches, "DATA.pt")' "quantize --help"
    fi
    ;;

  quantize_errors)
    # Every bad input: exactly one line on stderr, the exit status, nothing on stdout.
    [[ -n $fixtures && -f $fixtures/tiny_calib.pt ]] || { fail "no fixtures in '$fixtures'"; exit 1; }
    tiny=$fixtures/tiny_scripted.pt
    w8a8=$src/configs/w8a8.yaml
    # expect_error WANT_RC WANT_LINE ARGS...: stderr ends with WANT_LINE (the
    # progress lines of the batches before a failing one may come first).
    expect_error() {
      local want_rc=$1 want=$2
      shift 2
      run quantize "$@"
      expect_rc "$want_rc" "quantize $*"
      local last
      last=$(tail -n 1 "$tmp/err")
      [[ $last == "$want" ]] || fail "quantize $*:"$'\n'"  got:  $last"$'\n'"  want: $want"
      [[ $(grep -vc '^calibrating: ' "$tmp/err") == 1 ]] ||
        fail "quantize $*: want one error line, got:"$'\n'"$err"
      [[ $err != *"Exception raised from"* && $err != *"Traceback"* ]] ||
        fail "quantize $*: backtrace in stderr:"$'\n'"$err"
      [[ -z $out ]] || fail "quantize $* wrote to stdout: $out"
      [[ ! -e $tmp/out.pt ]] || fail "quantize $* wrote $tmp/out.pt"
    }
    expect_error 1 "coreai-opt quantize: error: cannot open '$tmp/none.pt': No such file or directory" \
      "$tmp/none.pt" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --output "$tmp/out.pt"
    echo "not a model" >"$tmp/text.pt"
    expect_error 1 "coreai-opt quantize: error: '$tmp/text.pt' is not a TorchScript module (PytorchStreamReader failed reading zip archive: not a ZIP archive)" \
      "$tmp/text.pt" --config "$w8a8" --output "$tmp/out.pt"
    printf 'quantization_config:\n  global_config:\n    op_state_spec: {weight: {dtype: int9}}\n' >"$tmp/bad.yaml"
    expect_error 1 "$tmp/bad.yaml:3:37: error: quantization_config.global_config.op_state_spec.weight.dtype: Unsupported dtype: 'int9'. Allowed dtypes: float4_e2m1fn_x2, float8_e4m3fn, float8_e5m2, int2, int4, int8, uint2, uint4, uint8" \
      "$tiny" --config "$tmp/bad.yaml" --output "$tmp/out.pt"
    expect_error 1 "$tmp/none.yaml: error: cannot open config file '$tmp/none.yaml': No such file or directory" \
      "$tiny" --config "$tmp/none.yaml" --output "$tmp/out.pt"
    # Batch 2 has 7 features where fc1 takes 4: LibTorch's message, not its traceback.
    expect_error 1 "coreai-opt quantize: error: calibration batch 2: mat1 and mat2 shapes cannot be multiplied (5x7 and 4x8)" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib_bad_shape.pt" --output "$tmp/out.pt"
    [[ $(head -n 2 "$tmp/err") == "calibrating: 1/3 batches, "*$'\n'"calibrating: 2/3 batches, "* ]] ||
      fail "bad shape: want the progress of batches 0 and 1 first, got:"$'\n'"$err"
    expect_error 1 "coreai-opt quantize: error: calibration batch 1: input 0 is float32 of rank 3; in batch 0 it is float32 of rank 2" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib_bad_rank.pt" --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: calibration batch 0: 2 inputs, but forward(x) takes 1" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib_bad_arity.pt" --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: calibration batch 0: 1 input, but forward(ids, img) takes 2" \
      "$fixtures/net_scripted.pt" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: '$tmp/text.pt' is not a file written by torch.save (PytorchStreamReader failed reading zip archive: not a ZIP archive)" \
      "$tiny" --config "$w8a8" --calibration "$tmp/text.pt" --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: '$tiny' is a TorchScript module without buffers input0, input1, ..." \
      "$tiny" --config "$w8a8" --calibration "$tiny" --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: --batches '0': expected a positive integer" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --batches 0 --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: --batches '-3': expected a positive integer" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --batches -3 --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: --batches 7: '$fixtures/tiny_calib.pt' holds only 6 batches" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --batches 7 --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: the config quantizes activations (4 points, e.g. op_input 0 of linear); pass --calibration DATA.pt to calibrate them" \
      "$tiny" --config "$w8a8" --output "$tmp/out.pt"
    expect_error 1 "coreai-opt quantize: error: --output '$tiny' is the input model; write the quantized model to another file" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --output "$tiny"
    expect_error 1 "coreai-opt quantize: error: cannot write '$tmp/no_dir/out.pt': no directory '$tmp/no_dir'" \
      "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib.pt" --output "$tmp/no_dir/out.pt"
    usage="(usage: coreai-opt quantize MODEL.pt --config CONFIG.yaml [--calibration DATA.pt] [--batches N] --output OUT.pt [--finalize] [--json])"
    expect_error 2 "coreai-opt quantize: --output is required $usage" "$tiny" --config "$w8a8"
    expect_error 2 "coreai-opt quantize: --config is required $usage" "$tiny" --output "$tmp/out.pt"
    expect_error 2 "coreai-opt quantize: unknown option '--calib' $usage" \
      "$tiny" --config "$w8a8" --calib "$fixtures/tiny_calib.pt" --output "$tmp/out.pt"
    expect_error 2 "coreai-opt quantize: --batches needs --calibration $usage" \
      "$tiny" --config "$w8a8" --batches 2 --output "$tmp/out.pt"

    # The data formats that do load: a list of Tensors (one input each), and the
    # older holder module (one batch) of `plan --inputs`, which also takes one
    # torch.save batch.
    run quantize "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_calib_tensors.pt" --output "$tmp/t.pt"
    expect_rc 0 "quantize with a list of Tensors"
    expect_contains "$out" " s (3 batches, " "quantize with a list of Tensors"
    [[ $err == "calibrating: 1/3 batches, "*"calibrating: 3/3 batches, "*" total" ]] ||
      fail "quantize with a list of Tensors: progress lines: $err"
    run quantize "$tiny" --config "$w8a8" --calibration "$fixtures/tiny_inputs.pt" --output "$tmp/h.pt"
    expect_rc 0 "quantize with a holder module"
    expect_contains "$out" " s (1 batch, " "quantize with a holder module"
    run plan "$tiny" --config "$w8a8" --inputs "$fixtures/tiny_inputs.pt"
    expect_rc 0 "plan --inputs of a holder module"
    expect_contains "$out" $'\n6 points (6 quantized, 0 declined)' "plan --inputs of a holder module"
    holder_plan=$out
    run plan "$tiny" --config "$w8a8" --inputs "$fixtures/tiny_calib_one.pt"
    expect_rc 0 "plan --inputs of one torch.save batch"
    [[ $out == "$holder_plan" ]] || fail "plan --inputs: torch.save batch and holder module differ"
    run plan "$tiny" --config "$w8a8" --inputs "$fixtures/tiny_calib.pt"
    expect_rc 1 "plan --inputs of six batches"
    [[ $err == "coreai-opt plan: error: '$fixtures/tiny_calib.pt' holds 6 batches; --inputs takes one (a Tensor or a tuple of Tensors)" ]] ||
      fail "plan --inputs of six batches: got '$err'"
    ;;

  usage_errors)
    run frobnicate
    expect_rc 2 "unknown command"
    expect_contains "$err" "unknown command 'frobnicate'" "unknown command"
    run
    expect_rc 2 "no command"
    expect_contains "$out" "usage: coreai-opt COMMAND" "no command"
    run validate
    expect_rc 2 "validate without files"
    run normalize
    expect_rc 2 "normalize without a file"
    run validate "$tmp/does_not_exist.yaml"
    expect_rc 1 "validate of a missing file"
    expect_contains "$err" "$tmp/does_not_exist.yaml" "validate of a missing file"
    # Graph-mode commands (built with LibTorch): bad model files give one line, no backtrace.
    if "$bin" --help | grep -q "^  plan "; then
      run plan "$tmp/no_model.pt" --config "$src/configs/w8a8.yaml"
      expect_rc 1 "plan of a missing model"
      [[ $err == "coreai-opt plan: error: cannot open '$tmp/no_model.pt': No such file or directory" ]] ||
        fail "plan of a missing model: got '$err'"
      echo "not a model" >"$tmp/text.pt"
      run inspect "$tmp/text.pt"
      expect_rc 1 "inspect of a text file"
      expect_contains "$err" "coreai-opt inspect: error: '$tmp/text.pt' is not a TorchScript module (" \
        "inspect of a text file"
      [[ $(wc -l <"$tmp/err") == 1 ]] || fail "inspect of a text file: want one line, got: $err"
    fi
    ;;

  *)
    fail "unknown test case '$case_name'"
    ;;
esac

if ((failures > 0)); then
  echo "$case_name: $failures failure(s)" >&2
  exit 1
fi
echo "$case_name: ok"
