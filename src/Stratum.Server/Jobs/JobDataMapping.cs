using Stratum.Client.Contracts;
using Stratum.Core.Jobs;

namespace Stratum.Server.Jobs;

/// <summary>Between the wire's inputs, outputs and checkpoints and the spec's.</summary>
public static class JobDataMapping
{
    public static IReadOnlyList<JobInput> ToInputs(IReadOnlyList<JobInputDto>? inputs) =>
        inputs?.Select(i => i is null ? null! : new JobInput
        {
            Repository = i.Repo ?? "",
            Ref = i.Ref,
            Path = i.Path,
            MountAs = i.MountAs,
        }).ToList() ?? [];

    public static IReadOnlyList<JobOutput> ToOutputs(IReadOnlyList<JobOutputDto>? outputs) =>
        outputs?.Select(o => o is null ? null! : new JobOutput
        {
            Path = o.Path ?? "",
            Repository = o.Repo ?? "",
            Branch = o.Branch ?? "",
            To = o.To,
            Message = o.Message,
        }).ToList() ?? [];

    public static JobCheckpoints? ToCheckpoints(JobCheckpointsDto? checkpoints) =>
        checkpoints is null ? null : new JobCheckpoints { Repository = checkpoints.Repo ?? "", Branch = checkpoints.Branch };

    public static IReadOnlyList<JobInputDto> InputsDto(Job job) =>
        job.Spec.Inputs.Select(i => new JobInputDto { Repo = i.Repository, Ref = i.Ref, Path = i.Path, MountAs = i.MountDirectory, Commit = i.Commit }).ToList();

    /// <summary>Each output with the commit the job's last attempt made for it, when it made one.</summary>
    public static IReadOnlyList<JobOutputDto> OutputsDto(Job job)
    {
        var made = job.CurrentAttempt?.StoreCommits.Where(c => c.Kind == StoreCommitKind.Output).ToList() ?? [];
        return job.Spec.Outputs.Select(o => new JobOutputDto
        {
            Path = o.Path,
            Repo = o.Repository,
            Branch = o.Branch,
            To = o.To,
            Message = o.Message,
            Commit = made.FirstOrDefault(c => c.Repository == o.Repository && c.Branch == o.Branch && c.Path == o.Path)?.Commit,
        }).ToList();
    }

    public static JobCheckpointsDto? CheckpointsDto(Job job) =>
        job.Spec.Checkpoints is { } checkpoints ? new JobCheckpointsDto { Repo = checkpoints.Repository, Branch = checkpoints.BranchFor(job.Id) } : null;

    public static IReadOnlyList<StoreCommitDto>? CommitsDto(JobAttempt attempt) =>
        attempt.StoreCommits.Count == 0
            ? null
            : attempt.StoreCommits.Select(c => new StoreCommitDto(c.Kind.ToString().ToLowerInvariant(), c.Repository, c.Branch, c.Commit, c.Path)).ToList();
}
