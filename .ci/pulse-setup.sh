#!/bin/sh
# Give a headless machine a working "microphone": a PulseAudio null sink whose monitor is the
# default input. Anything played into the sink (paplay --device=etude_null) is what PortAudio's
# ALSA "pulse"/"default" device records. Idempotent: run it as often as you like.
#
# Usage: .ci/pulse-setup.sh          set up (or check) and print the state
#        .ci/pulse-setup.sh --stop   stop the silence clock (the daemon and sink stay)
#
# Why each step:
# - As root, plain `pulseaudio -D` works (it only warns); `--system` would need a system-wide
#   client configuration, so we run the ordinary per-user daemon and keep it alive forever.
# - A null sink with nothing playing into it renders in 2-second chunks, so its monitor delivers
#   no audio at all for seconds and then a burst, unlike any real microphone. A silent player
#   with a 10 ms latency ("the clock") makes it render every 10 ms, like a sound card.
set -eu

SINK=etude_null
CLOCK_PID=${ETUDE_PULSE_CLOCK_PID:-/tmp/etude-pulse-clock.pid}

clock_running() {
    [ -f "$CLOCK_PID" ] || return 1
    pid=$(cat "$CLOCK_PID")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "pacat.*$SINK"
}

if [ "${1:-}" = "--stop" ]; then
    if clock_running; then kill "$(cat "$CLOCK_PID")"; fi
    rm -f "$CLOCK_PID"
    exit 0
fi

for tool in pulseaudio pactl pacat paplay; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "pulse-setup: $tool not found (apt-get install pulseaudio pulseaudio-utils)" >&2
        exit 1
    }
done

if ! pactl info >/dev/null 2>&1; then
    pulseaudio -D --exit-idle-time=-1 2>/dev/null || true
    i=0
    until pactl info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 50 ]; then
            echo "pulse-setup: the PulseAudio daemon did not start" >&2
            exit 1
        fi
        sleep 0.1
    done
fi

if ! pactl list short sinks | awk '{print $2}' | grep -qx "$SINK"; then
    pactl load-module module-null-sink sink_name="$SINK" \
        sink_properties=device.description=Etude-null-microphone >/dev/null
fi
pactl set-default-sink "$SINK"
pactl set-default-source "$SINK.monitor"

if ! clock_running; then
    # Silence at 48 kHz stereo s16: exactly what the null sink mixes, so it adds nothing audible.
    nohup pacat --playback --device="$SINK" --latency-msec=10 --raw --format=s16le \
        --channels=2 --rate=48000 --client-name=etude-clock /dev/zero >/dev/null 2>&1 &
    echo $! >"$CLOCK_PID"
    i=0
    until pactl list short sinks | grep -E "^[0-9]+[[:space:]]+$SINK[[:space:]]" | grep -q RUNNING; do
        i=$((i + 1))
        if [ "$i" -gt 50 ]; then
            echo "pulse-setup: the null sink did not start running" >&2
            exit 1
        fi
        sleep 0.1
    done
    # The sink finishes the 2-second chunk it was rendering before it follows the clock.
    sleep 2.1
fi

echo "pulse-setup: default source $(pactl get-default-source), clock pid $(cat "$CLOCK_PID")"
