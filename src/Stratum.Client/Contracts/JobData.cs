namespace Stratum.Client.Contracts;

// A job's use of the artifact store: inputs checked out read-only before each attempt, outputs committed when
// it succeeds, and STRATUM_CHECKPOINT_DIR kept on a branch between attempts.

/// <summary>A repository ref mounted read-only at <c>mountAs</c> (default: the repository's name) in the working directory.</summary>
public sealed record JobInputDto
{
    public string? Repo { get; init; }

    /// <summary>Branch, tag or commit; default: the repository's default branch.</summary>
    public string? Ref { get; init; }

    /// <summary>A file or directory inside the repository; default: all of it.</summary>
    public string? Path { get; init; }

    public string? MountAs { get; init; }

    /// <summary>In answers: the commit the ref was resolved to at submission, which every attempt reads.</summary>
    public string? Commit { get; init; }
}

/// <summary>A path of the working directory committed to <c>repo@branch</c> (under <c>to</c>) when the job succeeds.</summary>
public sealed record JobOutputDto
{
    public string? Path { get; init; }

    public string? Repo { get; init; }

    public string? Branch { get; init; }

    public string? To { get; init; }

    public string? Message { get; init; }

    /// <summary>In answers: the commit made, once the job has succeeded.</summary>
    public string? Commit { get; init; }
}

/// <summary>Where STRATUM_CHECKPOINT_DIR is restored from and committed to; branch default <c>job-ID</c>.</summary>
public sealed record JobCheckpointsDto
{
    public string? Repo { get; init; }

    public string? Branch { get; init; }
}

/// <summary>A commit an attempt made: kind "checkpoint" or "output".</summary>
public sealed record StoreCommitDto(string Kind, string Repo, string Branch, string Commit, string? Path);
