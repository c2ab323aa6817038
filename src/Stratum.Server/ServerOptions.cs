namespace Stratum.Server;

/// <summary>Every server setting, with its default. Validated at startup; see docs/server.md.</summary>
public sealed class ServerOptions
{
    /// <summary>Where the database, job logs, checkpoints and connection.json live. Default ./.stratum.</summary>
    public string DataDirectory { get; set; } = ".stratum";

    /// <summary>
    /// The metadata store: <c>postgres://USER[:PASSWORD]@HOST:PORT/DB</c> (or an Npgsql connection string
    /// starting with <c>Host=</c>) for PostgreSQL, <c>sqlite:///PATH</c> for SQLite. Default: the
    /// STRATUM_DATABASE environment variable, else SQLite at DATA/stratum.db.
    /// </summary>
    public string? Database { get; set; }

    /// <summary>
    /// How long a starting server keeps retrying a PostgreSQL that does not answer (backoff 1 s doubling to
    /// 30 s; /readyz answers 503 meanwhile) before it gives up. Default 0: keep trying, as a service should
    /// while its database boots.
    /// </summary>
    public TimeSpan DatabaseWaitLimit { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Where job records live (pid files, exit codes, logs). Default DATA/jobs. Replicas of a highly
    /// available control plane must share it (a shared filesystem), so that whichever leads sees every job.
    /// </summary>
    public string? JobsDirectory { get; set; }

    /// <summary>
    /// How long the controller's leader lease lasts without renewal (renewed every third of it). A killed
    /// leader is replaced within about this plus a third. Default 6s; between 1s and 5m.
    /// </summary>
    public TimeSpan LeaderLease { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>The address to listen on. Default 127.0.0.1 (loopback only).</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>The HTTP port. Default 8470; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 8470;

    /// <summary>
    /// The S3 endpoint's port (bucket = repository; docs/s3.md), on <see cref="ListenAddress"/>. Default: the
    /// HTTP port plus one (8471 with the default port), or a free port when <see cref="Port"/> is 0; 0 picks a
    /// free port; -1 turns the endpoint off.
    /// </summary>
    public int? S3Port { get; set; }

    /// <summary>The S3 port in effect: <see cref="S3Port"/>, else derived from <see cref="Port"/> so that two servers on different ports never collide on the S3 one.</summary>
    public int EffectiveS3Port => S3Port ?? (Port == 0 ? 0 : Port + 1);

    /// <summary>Scheduling policy by name. Default "default" (fair share, EASY backfill, cohort quotas; docs/scheduling.md).</summary>
    public string SchedulingPolicy { get; set; } = Scheduling.SchedulingPolicies.Default;

    /// <summary>
    /// A job started less than this long ago is never preempted, so preemption cannot loop (the planning
    /// policies: default, backfill, fair-share). Default 5m; between 0 and 1d.
    /// </summary>
    public TimeSpan PreemptionCooldown { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How fast past usage stops counting against a project's fair share: usage from one half-life ago
    /// counts half (the planning policies with fair share). Default 7d; between 1h and 365d.
    /// </summary>
    public TimeSpan FairShareHalfLife { get; set; } = Scheduling.FairShareLedger.DefaultHalfLife;

    /// <summary>How often the scheduling loop runs when nothing wakes it earlier. Default 2s.</summary>
    public TimeSpan SchedulingInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often running replicas are observed when none reports an exit earlier. Default 1s.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Time between SIGTERM and SIGKILL on cancel, preemption and timeout. Default 10s.</summary>
    public TimeSpan StopGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Register this machine (CPUs, memory, NVIDIA GPUs) as a node of the "local" pool at start. Default true.</summary>
    public bool RegisterLocalNode { get; set; } = true;

    /// <summary>
    /// The largest a replica's stdout or stderr log grows before it is rotated to NAME.1, so one job
    /// keeps at most twice this per stream. Default 100 MiB; at least 64 KiB.
    /// </summary>
    public long MaxLogBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Alert rules and webhooks (docs/observability.md#alerts). Default: DATA/alerts.yaml when it exists, else no alerts.</summary>
    public string? AlertsFile { get; set; }

    /// <summary>The slurm.conf the Slurm commands of pools with a <c>slurm</c> executor use (SLURM_CONF). Default: none, Slurm's own lookup (/etc/slurm/slurm.conf).</summary>
    public string? SlurmConfigFile { get; set; }

    /// <summary>The Slurm account jobs of Slurm pools are charged to (<c>--account</c>). Default: none, the user's default account.</summary>
    public string? SlurmAccount { get; set; }

    /// <summary>How long before a Slurm job's time limit its replicas get SIGTERM to checkpoint (<c>--signal</c>); 0 turns it off. Default 60s.</summary>
    public TimeSpan SlurmWarnBeforeEnd { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one Slurm command (sbatch, squeue, scontrol, ...) may take before the controller counts as unreachable. Default 15s.</summary>
    public TimeSpan SlurmCommandTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Stratum accelerator type to Slurm GRES type, as <c>nvidia-h100=h100,nvidia-a100=a100</c>; a type not listed is used as is. Default: none.</summary>
    public string? SlurmGresTypes { get; set; }

    /// <summary>How often the nodes of Slurm pools are read again from the controller (a newly declared Slurm pool is read within 2s). Default 30s; between 1s and 1h.</summary>
    public TimeSpan SlurmDiscoveryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where the artifact store keeps its blobs when <see cref="StoreBackend"/> is <c>local</c>. Default DATA/store.</summary>
    public string? StoreDirectory { get; set; }

    /// <summary>
    /// The artifact store's blob backend: <c>local</c> (default; <see cref="StoreDirectory"/>) or
    /// <c>s3://BUCKET[/PREFIX]</c> for any S3-compatible store (path-style; <see cref="StoreS3Endpoint"/>,
    /// <see cref="StoreS3Region"/>, credentials from the options or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    /// </summary>
    public string StoreBackend { get; set; } = "local";

    /// <summary>The S3 endpoint URL of an <c>s3://</c> store backend. Default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS S3 of the region.</summary>
    public string? StoreS3Endpoint { get; set; }

    /// <summary>The S3 signing region of an <c>s3://</c> store backend. Default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.</summary>
    public string? StoreS3Region { get; set; }

    /// <summary>The S3 access key id of an <c>s3://</c> store backend; give it with <see cref="StoreS3SecretAccessKey"/>. Default: AWS_ACCESS_KEY_ID.</summary>
    public string? StoreS3AccessKeyId { get; set; }

    /// <summary>The S3 secret key of an <c>s3://</c> store backend (never logged). Default: AWS_SECRET_ACCESS_KEY.</summary>
    public string? StoreS3SecretAccessKey { get; set; }

    /// <summary>
    /// A cold tier for the artifact store: <c>s3://BUCKET[/PREFIX]</c> on the <see cref="StoreS3Endpoint"/> with the
    /// same credentials. With it the local store is the hot tier and repository tier policies and lifecycle runs
    /// move packs between them (docs/store.md#tiers-and-lifecycle). Default: none (one tier).
    /// </summary>
    public string? StoreColdBackend { get; set; }

    /// <summary>
    /// The artifact store's AES-256 key file (32 random bytes), created with mode 0600 on first start.
    /// Default DATA/store.key; the STRATUM_STORE_KEY environment variable (64 hex digits or base64), when set, wins.
    /// </summary>
    public string? StoreKeyFile { get; set; }

    /// <summary>zstd level of stored chunks: 1 (fast) to 19 (small), 0 stores them raw. Default 1: level 3 cost twice the CPU on text for 3% smaller output (docs/storage.md).</summary>
    public int StoreCompressionLevel { get; set; } = 1;

    /// <summary>How often the leader samples node and job telemetry into the store (docs/observability.md#stored-telemetry); zero turns sampling off. Default 10s; otherwise between 1s and 10m.</summary>
    public TimeSpan TelemetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The most raw telemetry rows kept (docs/observability.md#stored-telemetry); the oldest rounds already rolled into minute buckets go first. Default 4,000,000: a day of 100 running GPU jobs at 10s, about 340 MB in SQLite; 1,000 to 1,000,000,000.</summary>
    public int TelemetryMaxRawRows { get; set; } = DefaultTelemetryMaxRawRows;

    public const int DefaultTelemetryMaxRawRows = 4_000_000;

    /// <summary>The least severe log messages written to the console. Default Information; <c>stratum up</c> uses Warning.</summary>
    public LogLevel MinimumLogLevel { get; set; } = LogLevel.Information;

    /// <summary>What <c>database</c> must look like, for the messages that refuse anything else.</summary>
    public const string DatabaseFormat = "must start with postgres://, postgresql://, Host= or sqlite:///";

    /// <summary>The database setting in effect: <see cref="Database"/>, else STRATUM_DATABASE; null or blank means SQLite in the data directory.</summary>
    public string? EffectiveDatabase => Database ?? Environment.GetEnvironmentVariable("STRATUM_DATABASE");

    /// <summary>The SQLite file <paramref name="database"/> names (DATA/stratum.db when it names nothing), or null when it names PostgreSQL or nothing known.</summary>
    public static string? SqlitePath(string? database, string dataDirectory) =>
        string.IsNullOrWhiteSpace(database) ? Path.Combine(Path.GetFullPath(dataDirectory), "stratum.db")
        : DatabaseKind(database) == "sqlite" ? Path.GetFullPath(database["sqlite://".Length..])
        : null;

    /// <summary>"postgres", "sqlite" or null when <paramref name="database"/> names neither.</summary>
    public static string? DatabaseKind(string database) =>
        database.StartsWith("postgres://", StringComparison.Ordinal) || database.StartsWith("postgresql://", StringComparison.Ordinal)
            || database.StartsWith("Host=", StringComparison.OrdinalIgnoreCase)
            ? "postgres"
            : database.StartsWith("sqlite:///", StringComparison.Ordinal) ? "sqlite" : null;

    /// <summary>Every problem with these settings, each naming the setting and the fix; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            problems.Add("dataDirectory: must name a directory (default ./.stratum)");
        }

        if (Database is { } database)
        {
            if (DatabaseKind(database) is null)
            {
                problems.Add($"database: {DatabaseFormat}");
            }
            else if (DatabaseKind(database) == "postgres")
            {
                try
                {
                    Persistence.Postgres.PostgresConnectionString.Normalize(database);
                }
                catch (ArgumentException e)
                {
                    // The message names the problem and never includes the password.
                    problems.Add($"database: {e.Message}");
                }
            }
        }

        if (!System.Net.IPAddress.TryParse(ListenAddress, out _))
        {
            problems.Add($"listenAddress: '{ListenAddress}' is not an IP address; use 127.0.0.1 for this machine only or 0.0.0.0 for all interfaces");
        }

        if (Port is < 0 or > 65535)
        {
            problems.Add($"port: {Port} is not a TCP port (0 to 65535)");
        }

        if (EffectiveS3Port is < -1 or > 65535)
        {
            problems.Add($"s3Port: {EffectiveS3Port} is not a TCP port (0 to 65535, or -1 to turn the S3 endpoint off)");
        }
        else if (EffectiveS3Port == Port && Port != 0)
        {
            problems.Add($"s3Port: {EffectiveS3Port} is the HTTP port too; give the S3 endpoint its own port (default: the HTTP port plus one)");
        }

        if (Scheduling.SchedulingPolicies.WhyNotLive(SchedulingPolicy) is { } notLive)
        {
            problems.Add($"schedulingPolicy: {notLive}");
        }
        else if (!Scheduling.SchedulingPolicies.Names.Contains(SchedulingPolicy, StringComparer.Ordinal))
        {
            problems.Add($"schedulingPolicy: '{SchedulingPolicy}' is not a policy; use one of {string.Join(", ", Scheduling.SchedulingPolicies.Names)}");
        }

        foreach (var (name, value) in new[] { ("schedulingInterval", SchedulingInterval), ("reconcileInterval", ReconcileInterval) })
        {
            if (value < TimeSpan.FromMilliseconds(50) || value > TimeSpan.FromMinutes(10))
            {
                problems.Add($"{name}: {value} must be between 50ms and 10m");
            }
        }

        if (TelemetryInterval != TimeSpan.Zero && (TelemetryInterval < TimeSpan.FromSeconds(1) || TelemetryInterval > TimeSpan.FromMinutes(10)))
        {
            problems.Add($"telemetryInterval: {TelemetryInterval} must be 0 (off) or between 1s and 10m");
        }

        if (TelemetryMaxRawRows is < 1_000 or > 1_000_000_000)
        {
            problems.Add($"telemetryMaxRawRows: {TelemetryMaxRawRows} must be between 1000 and 1000000000");
        }

        if (LeaderLease < TimeSpan.FromSeconds(1) || LeaderLease > TimeSpan.FromMinutes(5))
        {
            problems.Add($"leaderLease: {LeaderLease} must be between 1s and 5m");
        }

        if (JobsDirectory is { } jobsDirectory && string.IsNullOrWhiteSpace(jobsDirectory))
        {
            problems.Add("jobsDirectory: must name a directory, or be left out for DATA/jobs");
        }

        if (DatabaseWaitLimit < TimeSpan.Zero)
        {
            problems.Add($"databaseWaitLimit: {DatabaseWaitLimit} must not be negative (0 keeps trying)");
        }

        if (MaxLogBytes < 64 * 1024)
        {
            problems.Add($"maxLogBytes: {MaxLogBytes} must be at least 65536 (64 KiB)");
        }

        if (PreemptionCooldown < TimeSpan.Zero || PreemptionCooldown > TimeSpan.FromDays(1))
        {
            problems.Add($"preemptionCooldown: {PreemptionCooldown} must be between 0 and 1d");
        }

        if (FairShareHalfLife < TimeSpan.FromHours(1) || FairShareHalfLife > TimeSpan.FromDays(365))
        {
            problems.Add($"fairShareHalfLife: {FairShareHalfLife} must be between 1h and 365d");
        }

        if (StopGracePeriod < TimeSpan.Zero || StopGracePeriod > TimeSpan.FromHours(1))
        {
            problems.Add($"stopGracePeriod: {StopGracePeriod} must be between 0 and 1h");
        }

        if (AlertsFile is { } alertsFile && !File.Exists(alertsFile))
        {
            problems.Add($"alertsFile: '{alertsFile}' does not exist; write the rules there or leave the setting out");
        }

        foreach (var error in Execution.SlurmSettings.OptionsFor(this, null).Validate())
        {
            // "slurm.warnBeforeEnd" is the setting slurmWarnBeforeEnd here.
            var name = error.Field.StartsWith("slurm.", StringComparison.Ordinal) ? error.Field["slurm.".Length..] : error.Field;
            problems.Add($"slurm{char.ToUpperInvariant(name[0])}{name[1..]}: {error.Message}");
        }

        if (Execution.SlurmSettings.ParseGresTypes(SlurmGresTypes, out var gresProblem) is null)
        {
            problems.Add($"slurmGresTypes: {gresProblem}");
        }

        if (SlurmConfigFile is { } slurmConfig && !File.Exists(slurmConfig))
        {
            problems.Add($"slurmConfigFile: '{slurmConfig}' does not exist; point it at the cluster's slurm.conf or leave it out for /etc/slurm/slurm.conf");
        }

        if (SlurmDiscoveryInterval < TimeSpan.FromSeconds(1) || SlurmDiscoveryInterval > TimeSpan.FromHours(1))
        {
            problems.Add($"slurmDiscoveryInterval: {SlurmDiscoveryInterval} must be between 1s and 1h");
        }

        problems.AddRange(Store.StoreSettings.Problems(this));

        return problems;
    }
}
