using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("Stratum.Persistence.Postgres.Tests.PostgresTestFramework", "Stratum.Persistence.Postgres.Tests")]

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>Marks a test class that needs a real PostgreSQL: its tests are skipped, with the reason, where there is none.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>
/// xunit 2 has no way for a test to skip itself once running, and the conformance suite's tests are
/// plain [Fact]s inherited from another project. This framework gives every [Fact] of a class marked
/// <see cref="RequiresPostgresAttribute"/> the skip reason <see cref="PostgresTestServer.SkipReason"/>,
/// decided when the test case is built (in discovery and again in execution, so it needs no serialising).
/// </summary>
public sealed class PostgresTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer(IAssemblyInfo assemblyInfo, ISourceInformationProvider sourceProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkDiscoverer(assemblyInfo, sourceProvider, diagnosticMessageSink)
    {
        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus, ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            var fact = testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).FirstOrDefault();
            var needsPostgres = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute)).Any();
            if (fact is null || !needsPostgres || IsTheory(fact))
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }

            var testCase = new PostgresTestCase(
                DiagnosticMessageSink,
                discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(),
                testMethod);
            return ReportDiscoveredTestCase(testCase, includeSourceInformation, messageBus);
        }

        private static bool IsTheory(IAttributeInfo fact) =>
            fact is ReflectionAttributeInfo reflection && reflection.Attribute is TheoryAttribute;
    }
}

/// <summary>A [Fact] that is skipped when PostgreSQL is missing (and the attribute gives no other reason).</summary>
public sealed class PostgresTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public PostgresTestCase()
    {
    }

    public PostgresTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    // A null reason means "run"; xunit 2 predates nullable annotations.
    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        base.GetSkipReason(factAttribute) ?? PostgresTestServer.SkipReason!;
}
