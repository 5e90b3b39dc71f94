//! Slurm, for real (arch/sweep.md, "A Slurm job array"): a one-node
//! cluster — `slurmctld` and `slurmd` on localhost, started by this test
//! with its own `slurm.conf` in a temporary directory — runs a 4-task
//! `sbatch --array` sweep, one shard per task; `tilesim merge` joins the
//! shards, and the result must equal the unsharded sweep byte for byte.
//!
//! Skipped, saying so, when Slurm is not installed (Debian: `apt-get
//! install slurm-wlm`). Where it is installed, a cluster that does not
//! come up is a failure, with the daemons' logs.

mod common;

use common::{text, tilesim};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Slurm program: on PATH, else in /usr/sbin or /usr/bin.
fn slurm(prog: &str) -> Option<PathBuf> {
    let on_path = Command::new(prog).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if on_path {
        return Some(PathBuf::from(prog));
    }
    ["/usr/sbin", "/usr/bin"].iter().map(|d| Path::new(d).join(prog)).find(|p| p.exists())
}

/// The daemons, stopped (SIGTERM, then SIGKILL) when the test ends however
/// it ends.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = Command::new("kill").args(["-TERM", &d.id().to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for d in &mut self.daemons {
            while d.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Cluster {
    fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"] {
            let t = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(25).collect();
            s.push_str(&format!("--- {f} (last lines)\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    fn command(&self, prog: &Path) -> Command {
        let mut c = Command::new(prog);
        c.env("SLURM_CONF", &self.conf);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn output(c: &mut Command) -> String {
    let o = c.output().expect("run a Slurm command");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn short_hostname() -> String {
    let h = Command::new("hostname").arg("-s").output().ok().filter(|o| o.status.success());
    let h = match h {
        Some(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string(),
    };
    h.split('.').next().unwrap_or("localhost").to_string()
}

/// Starts slurmctld and slurmd in `dir` and waits until the node is idle.
fn start(dir: &Path, ctld: &Path, slurmd: &Path, sinfo: &Path) -> Cluster {
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    let host = short_hostname();
    let user = output(Command::new("id").arg("-un"));
    let d = dir.display();
    let conf = format!(
        "ClusterName=tilesimtest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser={user}\nSlurmdUser={user}\n\
         AuthType=auth/none\nCredType=cred/none\nSlurmctldPort={}\nSlurmdPort={}\n\
         StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\nSlurmctldPidFile={d}/slurmctld.pid\n\
         SlurmdPidFile={d}/slurmd.pid\nSlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
         ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n\
         SelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\nSchedulerType=sched/builtin\n\
         JobCompType=jobcomp/none\nAccountingStorageType=accounting_storage/none\n\
         JobAcctGatherType=jobacct_gather/none\nSwitchType=switch/none\n\
         NodeName={host} NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN\n\
         PartitionName=tilesim Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
        free_port(),
        free_port(),
    );
    let path = dir.join("slurm.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cluster = Cluster { dir: dir.to_path_buf(), conf: path.clone(), daemons: Vec::new() };
    for (prog, out) in [(ctld, "slurmctld.out"), (slurmd, "slurmd.out")] {
        let log = std::fs::File::create(dir.join(out)).unwrap();
        let child = cluster
            .command(prog)
            .args(["-D", "-f"])
            .arg(&path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", prog.display()));
        cluster.daemons.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = output(cluster.command(sinfo).args(["-h", "-o", "%T"]));
        if state == "idle" {
            return cluster;
        }
        assert!(Instant::now() < deadline, "the node never became idle (sinfo: {state:?})\n{}", cluster.logs());
        std::thread::sleep(Duration::from_millis(300));
    }
}

const SWEEP: [&str; 13] = [
    "sweep",
    "--model",
    "llama-2-7b",
    "--chip",
    "h100",
    "--chip",
    "mini-mesh",
    "--layers",
    "1",
    "--batch",
    "1,4",
    "--context",
    "64,128",
];

#[test]
fn a_slurm_job_array_sweep_merges_into_the_unsharded_sweep() {
    let progs: Vec<Option<PathBuf>> = ["slurmctld", "slurmd", "sbatch", "sinfo"].iter().map(|p| slurm(p)).collect();
    let [Some(ctld), Some(slurmd), Some(sbatch), Some(sinfo)] = &progs[..] else {
        eprintln!(
            "skipped: Slurm is not installed (slurmctld, slurmd, sbatch, sinfo); on Debian `apt-get install \
             slurm-wlm`, then `cargo test --test slurm` (arch/sweep.md)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("tilesim-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = start(&dir, ctld, slurmd, sinfo);

    // The unsharded sweep (simulated: every column filled).
    let simulated: Vec<&str> = SWEEP.to_vec();
    let whole = dir.join("whole.csv");
    let mut args = simulated.clone();
    args.extend(["-o", whole.to_str().unwrap()]);
    let (code, _, err) = text(&tilesim(&args));
    assert_eq!(code, 0, "{err}");

    // The same sweep as a 4-task job array, one shard per task.
    let mut sweep = format!("'{}'", env!("CARGO_BIN_EXE_tilesim"));
    for a in &simulated {
        sweep.push_str(&format!(" '{a}'"));
    }
    let script = dir.join("sweep.sbatch");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\nset -euo pipefail\n{sweep} --jobs 1 \\\n    --shard \
             \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\" -o \"{}/sweep-$SLURM_ARRAY_TASK_ID.csv\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut job = cluster
        .command(sbatch)
        .args(["--wait", "--array=0-3", "--cpus-per-task=1", "--job-name=tilesim-sweep"])
        .arg(format!("--chdir={}", dir.display()))
        .arg(format!("--output={}/task-%a.log", dir.display()))
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = job.kill();
            panic!("the job array did not finish in 300 s\n{}", cluster.logs());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let tasks: String =
        (0..4).map(|k| std::fs::read_to_string(dir.join(format!("task-{k}.log"))).unwrap_or_default()).collect();
    assert!(status.success(), "sbatch --wait: {status}; task logs:\n{tasks}\n{}", cluster.logs());

    // Merge the shards (given in reverse) and compare byte for byte.
    let merged = dir.join("merged.csv");
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend((0..4).rev().map(|k| dir.join(format!("sweep-{k}.csv")).display().to_string()));
    args.extend(["--shards".into(), "4".into(), "-o".into(), merged.display().to_string()]);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code, _, err) = text(&tilesim(&refs));
    assert_eq!(code, 0, "{err}");
    let (a, b) = (std::fs::read(&merged).unwrap(), std::fs::read(&whole).unwrap());
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the merged shards differ from the unsharded sweep");
    assert_eq!(String::from_utf8(b).unwrap().lines().count(), 9, "a header and 8 points");
}
