//! The deployment files agree with each other and with the binary: the Dockerfile, the
//! kustomize layout in deploy/k8s and `medgym serve` itself. Nothing here needs a Docker daemon
//! or a cluster (neither exists on the development machines or in CI); tools that can check more
//! are used when installed and reported on stderr when not: `kubectl` renders the kustomizations
//! (otherwise the base files are checked as written), `kubernetes-validate` checks the rendered
//! objects against the Kubernetes schemas, `hadolint` lints the Dockerfile.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_norway::Value;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

// --- Dockerfile ----------------------------------------------------------------------------

/// What the runtime image promises, read from the Dockerfile.
#[derive(Debug)]
struct Image {
    grpc: SocketAddr,
    metrics: SocketAddr,
    kb_cache: String,
    uid: u32,
    gid: u32,
    exposed: Vec<u16>,
}

/// Instructions as (KEYWORD, arguments), continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (kw, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((kw.to_uppercase(), args.trim().to_string()));
        current.clear();
    }
    out
}

/// `KEY=value` pairs of ENV instructions (values without spaces or quotes, as ours are).
fn env_pairs(args: &str) -> Vec<(String, String)> {
    args.split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV {kv:?} is not KEY=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn image() -> Image {
    let all = instructions(&read("Dockerfile"));
    let froms: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, (kw, _))| kw == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(
        froms.len() >= 2,
        "multi-stage: a build stage and a runtime stage"
    );
    let build = &all[froms[0]..froms[froms.len() - 1]];
    assert!(
        build.iter().any(|(kw, a)| kw == "RUN"
            && a.contains("cargo build --release --locked --bin medgym")),
        "the build stage builds the release binary from the lock file"
    );
    let runtime_stage = &all[froms[froms.len() - 1]..];
    let base = &runtime_stage[0].1;
    assert!(
        base.starts_with("gcr.io/distroless/") || base.contains("-slim"),
        "small runtime base, got {base}"
    );
    let last = |kw: &str| {
        runtime_stage
            .iter()
            .rev()
            .find(|(k, _)| k == kw)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("no {kw} in the runtime stage"))
    };

    let entry: Vec<String> =
        serde_json::from_str(&last("ENTRYPOINT")).expect("ENTRYPOINT in exec (JSON) form");
    assert_eq!(
        entry,
        ["/usr/local/bin/medgym", "serve"],
        "exec form, so SIGTERM reaches medgym itself"
    );
    assert!(
        runtime_stage.iter().any(|(kw, a)| kw == "COPY"
            && a.contains("--from=")
            && a.ends_with(" /usr/local/bin/medgym")),
        "the binary is copied from the build stage to the entry point's path"
    );

    let user = last("USER");
    let (uid, gid) = user.split_once(':').unwrap_or((&user, &user));
    let uid: u32 = uid
        .parse()
        .expect("numeric USER, so runAsNonRoot can verify it");
    let gid: u32 = gid.parse().expect("numeric group");
    assert_ne!(uid, 0, "non-root");

    let env: BTreeMap<String, String> = runtime_stage
        .iter()
        .filter(|(kw, _)| kw == "ENV")
        .flat_map(|(_, a)| env_pairs(a))
        .collect();
    let addr = |k: &str| -> SocketAddr {
        env.get(k)
            .unwrap_or_else(|| panic!("ENV {k}"))
            .parse()
            .unwrap_or_else(|e| panic!("ENV {k}: {e}"))
    };
    let (grpc, metrics) = (addr("MEDGYM_ADDR"), addr("MEDGYM_METRICS_ADDR"));
    for a in [grpc, metrics] {
        assert!(
            a.ip().is_unspecified(),
            "{a}: a container listens on every interface"
        );
    }
    let kb_cache = env
        .get("MEDGYM_KB_CACHE")
        .expect("ENV MEDGYM_KB_CACHE")
        .clone();
    assert!(
        runtime_stage.iter().any(|(kw, a)| kw == "COPY"
            && a.contains(&format!("--chown={uid}:{gid}"))
            && a.ends_with(&format!(" {kb_cache}"))),
        "the kb cache directory exists and belongs to the image user"
    );
    let exposed: Vec<u16> = runtime_stage
        .iter()
        .filter(|(kw, _)| kw == "EXPOSE")
        .flat_map(|(_, a)| {
            a.split_whitespace()
                .map(|p| p.parse().expect("EXPOSE port"))
        })
        .collect();
    Image {
        grpc,
        metrics,
        kb_cache,
        uid,
        gid,
        exposed,
    }
}

#[test]
fn dockerfile_exposes_what_the_server_listens_on_as_a_non_root_user() {
    let img = image();
    assert!(img.exposed.contains(&img.grpc.port()), "{img:?}");
    assert!(img.exposed.contains(&img.metrics.port()), "{img:?}");
    assert_eq!(img.exposed.len(), 2, "{img:?}");
    assert_eq!(img.gid, img.uid, "{img:?}");

    // The variables the image sets are the ones `medgym serve` reads, and its built-in ports are
    // the image's (so docs and clients can say 50051/9100 whichever way the server runs).
    let help = serve_help();
    for var in [
        "MEDGYM_ADDR",
        "MEDGYM_METRICS_ADDR",
        "MEDGYM_KB_CACHE",
        "MEDGYM_REPLICA_ID",
    ] {
        assert!(
            help.contains(&format!("[env: {var}")),
            "serve reads {var}:\n{help}"
        );
    }
    assert_eq!(default_port(&help, "--addr"), img.grpc.port());
    assert_eq!(default_port(&help, "--metrics-addr"), img.metrics.port());

    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for heavy in ["target", ".git"] {
        assert!(ignored.contains(&heavy), ".dockerignore leaves out {heavy}");
    }
    // Everything the build reads stays in the context (Cargo.toml names the benches and tests).
    for needed in [
        "src",
        "crates",
        "proto",
        "knowledge",
        "Cargo.toml",
        "Cargo.lock",
        "medgym.toml",
        "benches",
        "tests",
    ] {
        assert!(
            !ignored.contains(&needed) && !ignored.contains(&"*"),
            ".dockerignore must keep {needed}"
        );
    }
}

#[test]
fn hadolint_accepts_the_dockerfile_when_installed() {
    let Some(out) = run_tool("hadolint", &[root().join("Dockerfile").as_os_str()]) else {
        return;
    };
    assert!(
        out.status.success(),
        "hadolint:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// --- medgym serve ----------------------------------------------------------------------------

fn serve_help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .expect("medgym serve --help");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The port of `[default: HOST:PORT]` in the help of `flag`.
fn default_port(help: &str, flag: &str) -> u16 {
    let block: String = help
        .split("\n      --")
        .find(|b| b.starts_with(&format!("{} ", &flag[2..])))
        .unwrap_or_else(|| panic!("{flag} in serve --help"))
        .to_string();
    let default = block
        .split("[default: ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("default of {flag}"));
    default
        .parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{flag} default {default}: {e}"))
        .port()
}

// --- Kubernetes ------------------------------------------------------------------------------

/// The documents of a multi-document YAML stream (separated by `---` lines, as kubectl writes).
fn yaml_docs(text: &str) -> Vec<Value> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            let doc = docs.last_mut().expect("a document");
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.iter()
        .map(|d| serde_norway::from_str::<Value>(d).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => v.get(i).unwrap_or(&Value::Null),
        Err(_) => v.get(k).unwrap_or(&Value::Null),
    })
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string: {:?}", get(v, path)))
}

fn int_at(v: &Value, path: &str) -> i64 {
    get(v, path)
        .as_i64()
        .unwrap_or_else(|| panic!("{path} is not an integer: {:?}", get(v, path)))
}

/// A mapping entry whose key may contain dots (`get` splits paths on them).
fn key<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{k} is not a string: {:?}", v.get(k)))
}

fn seq<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    get(v, path).as_sequence().map_or(&[], Vec::as_slice)
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| get(d, "kind").as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

/// The invariants of one rendering of the manifests, with the text of the server config the
/// pods get. Returns the container's args.
fn check_manifests(docs: &[Value], img: &Image, config_toml: &str) -> Vec<String> {
    let dep = kind(docs, "Deployment");
    let svc = kind(docs, "Service");
    assert_eq!(int_at(dep, "spec.replicas"), 2);
    let pod = get(dep, "spec.template");
    let labels = get(pod, "metadata.labels");
    for (k, v) in get(dep, "spec.selector.matchLabels")
        .as_mapping()
        .expect("selector.matchLabels")
    {
        assert_eq!(labels.get(k), Some(v), "pod labels match the selector");
    }

    let containers = seq(pod, "spec.containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let port_of = |name: &str| {
        seq(c, "ports")
            .iter()
            .find(|p| get(p, "name").as_str() == Some(name))
            .map(|p| int_at(p, "containerPort"))
            .unwrap_or_else(|| panic!("container port {name}"))
    };
    let grpc = i64::from(img.grpc.port());
    let metrics = i64::from(img.metrics.port());
    assert_eq!(port_of("grpc"), grpc, "container gRPC port = image's");
    assert_eq!(
        port_of("metrics"),
        metrics,
        "container metrics port = image's"
    );

    // Native gRPC probes on the gRPC port; readiness names the environment service itself.
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(
            int_at(c, &format!("{probe}.grpc.port")),
            grpc,
            "{probe} uses grpc on the gRPC port (a number: grpc probes take no names)"
        );
    }
    assert_eq!(
        str_at(c, "readinessProbe.grpc.service"),
        medgym_proto::v1::environment_server::SERVICE_NAME
    );

    let ann = get(pod, "metadata.annotations");
    assert_eq!(key(ann, "prometheus.io/scrape"), "true");
    assert_eq!(
        key(ann, "prometheus.io/port"),
        metrics.to_string(),
        "scrape port = metrics port"
    );
    assert_eq!(key(ann, "prometheus.io/path"), "/metrics");

    let replica = seq(c, "env")
        .iter()
        .find(|e| get(e, "name").as_str() == Some("MEDGYM_REPLICA_ID"))
        .expect("MEDGYM_REPLICA_ID in env");
    assert_eq!(
        str_at(replica, "valueFrom.fieldRef.fieldPath"),
        "metadata.name",
        "session ids name the pod"
    );

    // Non-root as the image's user, nothing writable but the volumes.
    let psc = get(pod, "spec.securityContext");
    assert_eq!(get(psc, "runAsNonRoot").as_bool(), Some(true));
    assert_eq!(int_at(psc, "runAsUser"), i64::from(img.uid));
    let csc = get(c, "securityContext");
    assert_eq!(get(csc, "readOnlyRootFilesystem").as_bool(), Some(true));
    assert_eq!(get(csc, "allowPrivilegeEscalation").as_bool(), Some(false));
    assert!(
        seq(csc, "capabilities.drop")
            .iter()
            .any(|v| v.as_str() == Some("ALL"))
    );

    let volumes = seq(pod, "spec.volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| get(v, "name").as_str() == Some(name))
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    let mounts = seq(c, "volumeMounts");
    // The volume mounted at `path` or at the directory holding it.
    let mounted_at = |path: &str| -> &Value {
        let m = mounts
            .iter()
            .filter(|m| {
                let at = str_at(m, "mountPath");
                path == at || path.starts_with(&format!("{}/", at.trim_end_matches('/')))
            })
            .max_by_key(|m| str_at(m, "mountPath").len())
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        volume(str_at(m, "name"))
    };
    assert!(
        !get(mounted_at(&img.kb_cache), "emptyDir").is_null(),
        "a writable emptyDir at the image's kb cache {}",
        img.kb_cache
    );

    let args: Vec<String> = seq(c, "args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args.get(i + 1).expect("flag value").clone())
    };
    let config = flag("--config").expect("--config");
    let cm = mounted_at(&config);
    let cm_name = str_at(cm, "configMap.name");
    if let Some(map) = docs
        .iter()
        .find(|d| get(d, "kind").as_str() == Some("ConfigMap"))
    {
        // Rendered: kustomize's hashed name is the one the volume refers to.
        assert_eq!(str_at(map, "metadata.name"), cm_name);
        let file = config.rsplit('/').next().expect("file name");
        assert_eq!(key(get(map, "data"), file), config_toml);
    }
    medgym_server::Config::from_toml(config_toml).expect("the pods' medgym.toml parses");
    if let Some(tokens) = flag("--auth-token-file") {
        assert!(
            !get(mounted_at(&tokens), "secret.secretName").is_null(),
            "the token file comes from a Secret"
        );
    }
    // Every flag in args is one that `medgym serve` takes.
    let help = serve_help();
    for a in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(&format!("      {a} ")), "serve takes {a}");
    }

    // Headless, selecting the pods, on the named container ports.
    assert_eq!(str_at(svc, "spec.clusterIP"), "None", "headless Service");
    for (k, v) in get(svc, "spec.selector").as_mapping().expect("selector") {
        assert_eq!(labels.get(k), Some(v), "the Service selects the pods");
    }
    let svc_port = |name: &str| {
        seq(svc, "spec.ports")
            .iter()
            .find(|p| get(p, "name").as_str() == Some(name))
            .unwrap_or_else(|| panic!("Service port {name}"))
    };
    assert_eq!(int_at(svc_port("grpc"), "port"), grpc);
    assert_eq!(str_at(svc_port("grpc"), "targetPort"), "grpc");
    assert_eq!(int_at(svc_port("metrics"), "port"), metrics);
    assert_eq!(str_at(svc_port("metrics"), "targetPort"), "metrics");
    args
}

#[test]
fn k8s_base_files_agree_with_the_image_and_the_server() {
    let img = image();
    let mut docs = yaml_docs(&read("deploy/k8s/base/deployment.yaml"));
    docs.extend(yaml_docs(&read("deploy/k8s/base/service.yaml")));
    let args = check_manifests(&docs, &img, &read("deploy/k8s/base/medgym.toml"));
    assert!(
        !args.iter().any(|a| a == "--auth-token-file"),
        "the base runs without tokens"
    );
}

/// `kubectl kustomize DIR`, or None (reported) when kubectl is not installed.
fn kustomize(dir: &str) -> Option<String> {
    let out = run_tool(
        "kubectl",
        &["kustomize".as_ref(), root().join(dir).as_os_str()],
    )?;
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("utf-8 YAML"))
}

#[test]
fn k8s_kustomizations_render_and_keep_the_invariants() {
    let img = image();
    for (dir, auth) in [("deploy/k8s/base", false), ("deploy/k8s/auth", true)] {
        let Some(text) = kustomize(dir) else {
            return;
        };
        let docs = yaml_docs(&text);
        let args = check_manifests(&docs, &img, &read("deploy/k8s/base/medgym.toml"));
        assert_eq!(
            args.iter().any(|a| a == "--auth-token-file"),
            auth,
            "{dir}: tokens only in the auth overlay"
        );
        schema_check(dir, &text);
    }
}

/// Validates rendered manifests against the Kubernetes schemas when `kubernetes-validate` is
/// installed (`pip install kubernetes-validate`; it ships the schemas, no cluster needed).
fn schema_check(dir: &str, rendered: &str) {
    let tmp = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    std::fs::write(tmp.path(), rendered).expect("write rendered manifests");
    let Some(out) = run_tool(
        "kubernetes-validate",
        &[
            "--strict".as_ref(),
            "--quiet".as_ref(),
            tmp.path().as_os_str(),
        ],
    ) else {
        return;
    };
    assert!(
        out.status.success(),
        "{dir} against the Kubernetes schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs an optional tool; None (and a note on stderr) when it is not installed.
fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    match Command::new(tool).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{tool} is not installed: that check is skipped");
            None
        }
        Err(e) => panic!("running {tool}: {e}"),
    }
}

// --- The container's command line, run for real -------------------------------------------

/// `medgym serve` started as the pod starts it (the image's entry point, the Deployment's args
/// and replica id from the pod name), on loopback ports instead of 0.0.0.0: it serves, names the
/// replica, and answers SERVING to exactly the health checks the probes make.
#[test]
fn the_pod_command_line_serves_and_answers_the_probes() {
    let docs = yaml_docs(&read("deploy/k8s/base/deployment.yaml"));
    let dep = kind(&docs, "Deployment");
    let c = get(dep, "spec.template.spec.containers.0");
    let config = root().join("deploy/k8s/base/medgym.toml");
    let args: Vec<String> = seq(c, "args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .map(|a| {
            // The ConfigMap's file, from the repository instead of the mount.
            if a.ends_with("/medgym.toml") {
                config.display().to_string()
            } else {
                a
            }
        })
        .collect();
    let pod_name = "medgym-7d9c5b8f6-x2k4q";
    let mut command = Command::new(env!("CARGO_BIN_EXE_medgym"));
    command
        .arg("serve")
        .args(&args)
        .env("MEDGYM_ADDR", "127.0.0.1:0")
        .env("MEDGYM_METRICS_ADDR", "127.0.0.1:0")
        .env("MEDGYM_REPLICA_ID", pod_name)
        .stderr(Stdio::piped());
    let server = common::Running::spawn(command);
    let replica = server
        .line
        .split("replica=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|r| r.trim_matches('"'));
    assert_eq!(
        replica,
        Some(pod_name),
        "the replica id is the pod name: {}",
        server.line
    );
    let addr = server.addr.clone();

    let services: Vec<String> = ["startupProbe", "readinessProbe", "livenessProbe"]
        .iter()
        .map(|p| {
            get(c, &format!("{p}.grpc.service"))
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        for service in &services {
            let status = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: service.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
                .into_inner()
                .status;
            assert_eq!(
                status,
                tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
                "probe service {service:?}"
            );
        }
    });
    server.signal("-TERM");
    let (clean, log) = server.wait();
    assert!(clean, "clean exit on SIGTERM:\n{log}");
}

#[test]
fn the_yaml_helpers_read_what_kubectl_writes() {
    let docs = yaml_docs("a: 1\n---\nb: {c: [x, y]}\n---\n");
    assert_eq!(docs.len(), 2);
    assert_eq!(int_at(&docs[0], "a"), 1);
    assert_eq!(str_at(&docs[1], "b.c.1"), "y");
    assert!(get(&docs[1], "b.d").is_null());
    let i = instructions("FROM x AS b\n# c\nRUN a \\\n  # inside\n  b\nENV A=1 \\\n    B=2\n");
    assert_eq!(
        i,
        [
            ("FROM".into(), "x AS b".into()),
            ("RUN".into(), "a  b".into()),
            ("ENV".into(), "A=1  B=2".into()),
        ]
    );
    assert_eq!(
        env_pairs("A=1  B=2"),
        [("A".into(), "1".into()), ("B".into(), "2".into())]
    );
}
