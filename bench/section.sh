# bench/section.sh, sourced: write_section NAME TEXT puts TEXT, which starts with the line
# "<!-- NAME: ..." and ends with "<!-- /NAME -->", in $OUT in place of the section of that name,
# or at the end of $OUT when it has none. The full run of bench/run.sh rewrites $OUT, so the
# sections that other runs write go after it (make bench).
write_section() {
	local name=$1 sec=$2 tmp
	tmp=$(mktemp)
	if grep -q "^<!-- $name: " "$OUT" 2>/dev/null; then
		awk -v sec="$sec" -v first="^<!-- $name: " -v last="^<!-- /$name -->" \
			'$0 ~ first {print sec; skip = 1; next} $0 ~ last {skip = 0; next} !skip' "$OUT" >"$tmp"
		cat "$tmp" >"$OUT"
	else
		printf '\n%s\n' "$sec" >>"$OUT"
	fi
	rm -f "$tmp"
}
