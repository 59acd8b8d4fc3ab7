#!/bin/sh
# gen-man.sh NN - writes the manual page nn(1) to standard output, built
# from the program's own help texts (nn help, nn help COMMAND, nn help
# model|init|schedule), so that the page says what the program does.
set -e
nn=${1:?usage: gen-man.sh PATH/TO/nn}

# roff-safe text: backslashes, leading dots and quotes, and the dashes
# of options.
esc() {
    sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" -e 's/-/\\-/g'
}

# The commands `nn help` lists (not help itself).
commands=$("$nn" help | awk '/^commands:/ {on = 1; next} on && /^$/ {exit}
    on && /^  [a-z]/ && $1 != "help" {print $1}')
version=$("$nn" --version | awk '{print $2}')

cat <<HEAD
.TH NN 1 "" "nn $version" "User Commands"
.SH NAME
nn \\- train, evaluate and inspect neural networks (libnn)
.SH SYNOPSIS
.B nn
.I command
.RI [ options ]
.br
.B nn help
.RI [ command | model | init | schedule ]
.SH DESCRIPTION
.B nn
is the command\\-line program of libnn: it trains dense and convolutional
networks on CSV files, image folders and IDX data, and evaluates, inspects
and runs the checkpoints it writes (safetensors files).
.SH COMMANDS
HEAD
"$nn" help | awk '/^commands:/ {on = 1; next} on && /^$/ {exit}
    on && /^  [a-z]/ && $1 != "help" {name = $1; sub(/^  [a-z]+ +/, ""); print ".TP\n.B " name "\n" $0}' \
    | sed -e '/^\./!s/-/\\-/g'

for c in $commands; do
    printf '.SH "NN %s"\n' "$(echo "$c" | tr a-z A-Z)"
    "$nn" help "$c" | awk '
        NR == 1 { sub(/^usage: /, ""); print ".nf\n" $0 "\n.fi"; next }
        /^options:$/ { opts = 1; print ".SS Options"; next }
        opts && /^  --/ {
            line = $0; sub(/^  /, "", line)
            # the flag and its value name, then the text after 2+ spaces
            n = match(line, /   +/)
            if (n) { head = substr(line, 1, n - 1); text = substr(line, n); sub(/^ +/, "", text) }
            else { head = line; text = "" }
            print ".TP\n@B@" head "\n" text; next
        }
        /^$/ { print ".PP"; next }
        { print }' | esc | sed -e 's/^@B@\(.*\)$/.B \1/' -e 's/^\\&\././' \
        -e 's/^\\\\&\././'
done

section() {
    printf '.SH "%s"\n.nf\n' "$1"
    "$nn" help "$2" | esc
    printf '.fi\n'
}
section "MODEL SPECS" model
section "INITIALIZERS" init
section "LEARNING-RATE SCHEDULES" schedule

printf '.SH "DATA SOURCES"\n.nf\n'
"$nn" help | awk '/^Data sources/ {on = 1} on' | esc
printf '.fi\n.SH "SEE ALSO"\nThe libnn README and docs/ folder; include/nn.h and include/nn/*.h for the library.\n'
