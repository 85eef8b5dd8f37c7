#!/usr/bin/env bash
# Installs Apache Kafka (KRaft, single node) from Maven Central into $EW_CACHE/kafka-<version>/libs.
EW_STEP=kafka
source "$(dirname "$0")/lib.sh"

command -v java >/dev/null || ew_die "java not found: install a JDK 17 (Debian: openjdk-17-jre-headless)"
command -v mvn >/dev/null || ew_die "mvn not found: install Maven (Debian: maven)"
pom="$EW_ROOT/scripts/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
dest="$EW_CACHE/kafka-$version"
if ew_have "$dest/.installed"; then ew_log "Kafka $version already installed in $dest"; exit 0; fi
ew_log "resolving Kafka $version from Maven Central into $dest (first run only)"
rm -rf "$dest.tmp"
# Maven 3.8 prints colour resets even in batch mode; strip escape sequences from its output.
mvn -B -q -f "$pom" -Dmaven.repo.local="$EW_CACHE/m2" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest.tmp/libs" 2>&1 \
  | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2
ls "$dest.tmp/libs"/kafka_2.13-*.jar >/dev/null || ew_die "kafka_2.13 jar missing after resolve"
rm -rf "$dest"; mv "$dest.tmp" "$dest"
echo "$version" > "$dest/.installed"
ew_log "Kafka $version installed"
