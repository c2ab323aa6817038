namespace Stratum.Persistence;

/// <summary>Conventions of the audit records that stores are given.</summary>
public static class AuditPlaceholders
{
    /// <summary>
    /// In the Target or Detail of the audit record given to <see cref="IJobRepository.SubmitAsync"/>, replaced
    /// by the new job's id, which the caller cannot know beforehand ("job/{id}" is stored as "job/42").
    /// </summary>
    public const string JobId = "{id}";
}
