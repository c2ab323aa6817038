namespace Stratum.Core.Jobs;

/// <summary>
/// A repository ref checked out read-only into each replica's working directory before an attempt starts.
/// <see cref="Commit"/> is filled in at submission: every attempt and retry reads the data the ref named then.
/// </summary>
public sealed record JobInput
{
    public required string Repository { get; init; }

    /// <summary>A branch, tag, commit id or unique prefix, with an optional <c>~N</c>, as the user wrote it; null for the repository's default branch.</summary>
    public string? Ref { get; init; }

    /// <summary>A file or directory inside the repository; null for all of it.</summary>
    public string? Path { get; init; }

    /// <summary>The directory, relative to the working directory, that receives the files; null for the repository's name.</summary>
    public string? MountAs { get; init; }

    /// <summary>The commit <see cref="Ref"/> resolved to when the job was submitted.</summary>
    public string? Commit { get; init; }

    public string MountDirectory => MountAs ?? Repository;

    /// <summary>"repo@commit" (or "repo@ref" before resolution), as lineage names inputs.</summary>
    public string Pinned => $"{Repository}@{Commit ?? Ref ?? "default"}";
}

/// <summary>A file or directory of the working directory (replica 0's) committed to a branch when the job succeeds.</summary>
public sealed record JobOutput
{
    /// <summary>Relative to the working directory.</summary>
    public required string Path { get; init; }

    public required string Repository { get; init; }

    public required string Branch { get; init; }

    /// <summary>Where in the repository the files go; null for its root.</summary>
    public string? To { get; init; }

    /// <summary>The commit message; null for "output of job N (name)".</summary>
    public string? Message { get; init; }
}

/// <summary>The repository and branch that <c>STRATUM_CHECKPOINT_DIR</c> is restored from before each attempt and committed to after it.</summary>
public sealed record JobCheckpoints
{
    public required string Repository { get; init; }

    /// <summary>Null for <c>job-ID</c>.</summary>
    public string? Branch { get; init; }

    public string BranchFor(long jobId) => Branch ?? $"job-{jobId}";
}

/// <summary>A commit a job's attempt made in the artifact store.</summary>
public enum StoreCommitKind
{
    Checkpoint,
    Output,
}

public sealed record StoreCommitRecord(StoreCommitKind Kind, string Repository, string Branch, string Commit, string? Path);

/// <summary>
/// The validation rules for a spec's inputs, outputs and checkpoints. Repository, ref and path rules repeat the
/// artifact store's (Core cannot see the storage engine), so a bad name is refused at submission, naming the field.
/// </summary>
public static class JobDataRules
{
    public const int MaxInputs = 64;
    public const int MaxOutputs = 64;

    public static void Validate(JobSpec spec, List<ValidationError> errors)
    {
        var inputs = spec.Inputs ?? [];
        var outputs = spec.Outputs ?? [];
        if (inputs.Count > MaxInputs)
        {
            errors.Add(new("inputs", $"must have at most {MaxInputs} entries"));
        }

        if (outputs.Count > MaxOutputs)
        {
            errors.Add(new("outputs", $"must have at most {MaxOutputs} entries"));
        }

        var mounts = new List<string>();
        for (var i = 0; i < inputs.Count; i++)
        {
            var field = $"inputs[{i}]";
            var input = inputs[i];
            if (input is null)
            {
                errors.Add(new(field, "must not be null"));
                continue;
            }

            Add(errors, $"{field}.repo", RepositoryProblem(input.Repository));
            if (input.Ref is not null)
            {
                Add(errors, $"{field}.ref", ReferenceProblem(input.Ref));
            }
            if (input.Path is not null)
            {
                Add(errors, $"{field}.path", RelativePathProblem(input.Path.TrimEnd('/'), "a path inside the repository"));
            }

            var mount = input.MountDirectory;
            if (RelativePathProblem(mount, "a directory relative to the working directory") is { } mountProblem)
            {
                errors.Add(new($"{field}.mountAs", mountProblem));
            }
            else if (mounts.FirstOrDefault(m => Overlaps(m, mount)) is { } other)
            {
                errors.Add(new($"{field}.mountAs", $"'{mount}' overlaps the directory of another input ('{other}'); give each input its own mountAs"));
            }
            else
            {
                mounts.Add(mount);
            }
        }

        for (var i = 0; i < outputs.Count; i++)
        {
            var field = $"outputs[{i}]";
            var output = outputs[i];
            if (output is null)
            {
                errors.Add(new(field, "must not be null"));
                continue;
            }

            Add(errors, $"{field}.path", RelativePathProblem(output.Path?.TrimEnd('/'), "a file or directory relative to the working directory"));
            Add(errors, $"{field}.repo", RepositoryProblem(output.Repository));
            Add(errors, $"{field}.branch", BranchProblem(output.Branch));
            if (output.To is not null && output.To.Trim('/').Length > 0)
            {
                Add(errors, $"{field}.to", RelativePathProblem(output.To.Trim('/'), "a path inside the repository"));
            }

            if (output.Message is { } message && (message.Length > 4096 || message.Contains('\0')))
            {
                errors.Add(new($"{field}.message", "must be at most 4096 characters without NUL"));
            }

            if (output.Path is { } path && mounts.FirstOrDefault(m => Overlaps(m, path.TrimEnd('/'))) is { } mounted)
            {
                errors.Add(new($"{field}.path", $"'{path}' overlaps the read-only input directory '{mounted}'; write outputs elsewhere"));
            }
        }

        if (spec.Checkpoints is { } checkpoints)
        {
            Add(errors, "checkpoints.repo", RepositoryProblem(checkpoints.Repository));
            if (checkpoints.Branch is not null)
            {
                Add(errors, "checkpoints.branch", BranchProblem(checkpoints.Branch));
            }
        }
    }

    /// <summary>Lowercase letters, digits and '-', 3 to 63, as S3 bucket names.</summary>
    public static string? RepositoryProblem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is required: name a repository ('stratum store list' shows them)";
        }

        if (name.Length is < 3 or > 63 || !name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') || name[0] == '-' || name[^1] == '-')
        {
            return $"'{name}' is not a repository name: 3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit";
        }

        return null;
    }

    /// <summary>A branch name: 1 to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-'.</summary>
    public static string? BranchProblem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is required: name a branch";
        }

        if (name.Length > 128 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') || name[0] is '.' or '-')
        {
            return $"'{name}' is not a branch name: 1 to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-'";
        }

        return null;
    }

    /// <summary>A ref as users write it: a branch, tag or commit (prefix), optionally followed by <c>~N</c>.</summary>
    public static string? ReferenceProblem(string? reference)
    {
        if (string.IsNullOrEmpty(reference))
        {
            return "is required: a branch, tag or commit";
        }

        var tilde = reference.IndexOf('~', StringComparison.Ordinal);
        var name = tilde < 0 ? reference : reference[..tilde];
        var back = tilde < 0 ? "0" : reference[(tilde + 1)..];
        if (BranchProblem(name) is not null || back.Length > 6 || !back.All(char.IsAsciiDigit))
        {
            return $"'{reference}' is not a ref: a branch, tag or commit id (letters, digits, '.', '_', '-'), optionally with ~N";
        }

        return null;
    }

    /// <summary>A relative path without empty, '.' or '..' segments, backslashes or control characters.</summary>
    public static string? RelativePathProblem(string? path, string what)
    {
        if (string.IsNullOrEmpty(path))
        {
            return $"is required: {what}";
        }

        if (path.Length > 1024)
        {
            return $"'{path[..32]}...' is longer than 1024 characters";
        }

        if (path[0] == '/' || path.Contains('\\') || path.Any(char.IsControl))
        {
            return $"'{path}' must be {what}: relative, with '/' between parts and no control characters";
        }

        if (path.Split('/').Any(segment => segment is "" or "." or ".."))
        {
            return $"'{path}' must be {what}, without empty, '.' or '..' parts";
        }

        return null;
    }

    /// <summary>Whether one relative path is the other or lies inside it.</summary>
    public static bool Overlaps(string a, string b) =>
        a == b || a.StartsWith(b + "/", StringComparison.Ordinal) || b.StartsWith(a + "/", StringComparison.Ordinal);

    private static void Add(List<ValidationError> errors, string field, string? problem)
    {
        if (problem is not null)
        {
            errors.Add(new(field, problem));
        }
    }
}
