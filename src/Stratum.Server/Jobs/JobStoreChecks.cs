using Stratum.Core;
using Stratum.Core.Jobs;
using Stratum.Server.Api;
using Stratum.Server.Auth;
using Stratum.Server.Store;
using Stratum.Storage.Repositories;

namespace Stratum.Server.Jobs;

/// <summary>
/// What submission checks of a spec's inputs, outputs and checkpoints against the store, with the same rules
/// as <c>/api/v1/repos</c>: any authenticated user reads, admins and the members of a repository's project
/// write. Inputs are resolved to commits here, so every attempt reads the data the job was submitted against.
/// </summary>
public static class JobStoreChecks
{
    /// <summary>The spec with its inputs pinned, or the problem (400 naming the field, or 403) and no spec.</summary>
    public static async Task<(JobSpec? Spec, IResult? Problem)> CheckAsync(JobSpec spec, Caller caller, StoreServices store, CancellationToken cancellationToken)
    {
        if (spec.Inputs.Count == 0 && spec.Outputs.Count == 0 && spec.Checkpoints is null)
        {
            return (spec, null);
        }

        var repositories = store.Repositories;
        var errors = new List<ValidationError>();
        var pinned = new List<JobInput>();
        for (var i = 0; i < spec.Inputs.Count; i++)
        {
            var input = spec.Inputs[i];
            var info = await repositories.GetRepositoryAsync(input.Repository, cancellationToken);
            if (!info.IsSuccess)
            {
                errors.Add(new($"inputs[{i}].repo", $"no repository '{input.Repository}'; 'stratum store list' shows the repositories"));
                continue;
            }

            var reference = input.Ref ?? info.Value!.DefaultBranch;
            var resolved = await repositories.ResolveAsync(input.Repository, reference, cancellationToken);
            if (!resolved.IsSuccess)
            {
                errors.Add(new($"inputs[{i}].ref", $"{resolved.Message}; 'stratum store branch ls {input.Repository}' and 'stratum store tag ls {input.Repository}' show its refs"));
                continue;
            }

            var commit = resolved.Value!.CommitId;
            if (input.Path is { } path && !await PathExistsAsync(repositories, input.Repository, commit, path.TrimEnd('/'), cancellationToken))
            {
                errors.Add(new($"inputs[{i}].path", $"'{path}' is neither a file nor a directory in {input.Repository}@{reference} (commit {commit[..12]}); 'stratum store ls {input.Repository}@{reference} --recursive' shows its files"));
                continue;
            }

            pinned.Add(input with { Ref = reference, Commit = commit });
        }

        var denied = new List<string>();
        for (var i = 0; i < spec.Outputs.Count; i++)
        {
            var output = spec.Outputs[i];
            if (!(await repositories.GetRepositoryAsync(output.Repository, cancellationToken)).IsSuccess)
            {
                errors.Add(new($"outputs[{i}].repo", $"no repository '{output.Repository}'; create it with 'stratum store create {output.Repository} --kind model --project {spec.Project}'"));
                continue;
            }

            var branches = await repositories.ListBranchesAsync(output.Repository, cancellationToken);
            if (!branches.Any(b => b.Name == output.Branch))
            {
                errors.Add(new($"outputs[{i}].branch", $"'{output.Branch}' is not a branch of '{output.Repository}'; create it with 'stratum store branch create {output.Repository} {output.Branch} --from main'"));
                continue;
            }

            if (!await store.CanWriteAsync(caller.User, output.Repository, cancellationToken))
            {
                denied.Add($"outputs[{i}]: {await WhoWritesAsync(store, output.Repository, cancellationToken)}");
            }
        }

        if (spec.Checkpoints is { } checkpoints)
        {
            if (!(await repositories.GetRepositoryAsync(checkpoints.Repository, cancellationToken)).IsSuccess)
            {
                errors.Add(new("checkpoints.repo", $"no repository '{checkpoints.Repository}'; create it with 'stratum store create {checkpoints.Repository} --kind checkpoints --project {spec.Project}'"));
            }
            else if (!await store.CanWriteAsync(caller.User, checkpoints.Repository, cancellationToken))
            {
                denied.Add($"checkpoints: {await WhoWritesAsync(store, checkpoints.Repository, cancellationToken)}");
            }
        }

        if (errors.Count > 0)
        {
            return (null, Problems.Validation(errors));
        }

        if (denied.Count > 0)
        {
            return (null, Problems.Forbidden($"{caller.Name} may not write where this job would write: {string.Join("; ", denied)}; ask an owner of that project for the member role, or choose a repository of your project"));
        }

        return (spec with { Inputs = pinned }, null);
    }

    private static async Task<string> WhoWritesAsync(StoreServices store, string repository, CancellationToken cancellationToken) =>
        await store.ProjectOfAsync(repository, cancellationToken) is { } project
            ? $"writing to repository '{repository}' needs the member or owner role in project '{project}'"
            : $"repository '{repository}' belongs to no project, so only admins write to it";

    private static async Task<bool> PathExistsAsync(RepositoryStore repositories, string repository, string commit, string path, CancellationToken cancellationToken)
    {
        if ((await repositories.StatAsync(repository, commit, path, cancellationToken)).IsSuccess)
        {
            return true;
        }

        var listing = await repositories.ListAsync(repository, commit, path + "/", limit: 1, cancellationToken: cancellationToken);
        return listing.IsSuccess && listing.Value!.Objects.Count > 0;
    }
}
