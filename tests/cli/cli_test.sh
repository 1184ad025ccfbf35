#!/usr/bin/env bash
# End-to-end checks of the coreai-opt CLI.
#   cli_test.sh COREAI_OPT_BINARY SOURCE_DIR CASE
# CASE: examples | bad_configs | several_files | normalize | help | usage_errors
# Golden error lines come from tests/data/bad_configs/NAME.expected (the
# `validate` output without its leading `FILE:`).
set -u

bin=$1
src=$2
case_name=$3
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
