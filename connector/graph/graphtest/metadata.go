package graphtest

import "net/http"

// serveMetadata serves the CSDL document at /v1.0/$metadata: Options.Metadata
// when given (e.g. the real v1.0-Prod.csdl), else builtinMetadata.
func (s *Server) serveMetadata(c *call) {
	if c.r.Method != http.MethodGet {
		c.methodNotAllowed()
		return
	}
	doc := s.opts.Metadata
	if doc == nil {
		doc = []byte(builtinMetadata)
	}
	c.status = http.StatusOK
	c.w.Header().Set("Content-Type", "application/xml;charset=utf-8")
	c.w.Header().Set("OData-Version", "4.0")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(doc)
}

// builtinMetadata is a small OData v4 CSDL document in the shape of Graph's
// $metadata (namespace microsoft.graph, base types entity → outlookItem →
// event/contact/message, directoryObject → user), covering the entities the
// connector synchronises and their complex and enum types.
const builtinMetadata = `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="importance"><Member Name="low" Value="0"/><Member Name="normal" Value="1"/><Member Name="high" Value="2"/></EnumType>
      <EnumType Name="sensitivity"><Member Name="normal" Value="0"/><Member Name="personal" Value="1"/><Member Name="private" Value="2"/><Member Name="confidential" Value="3"/></EnumType>
      <EnumType Name="freeBusyStatus"><Member Name="unknown" Value="-1"/><Member Name="free" Value="0"/><Member Name="tentative" Value="1"/><Member Name="busy" Value="2"/><Member Name="oof" Value="3"/><Member Name="workingElsewhere" Value="4"/></EnumType>
      <EnumType Name="eventType"><Member Name="singleInstance" Value="0"/><Member Name="occurrence" Value="1"/><Member Name="exception" Value="2"/><Member Name="seriesMaster" Value="3"/></EnumType>
      <EnumType Name="attendeeType"><Member Name="required" Value="0"/><Member Name="optional" Value="1"/><Member Name="resource" Value="2"/></EnumType>
      <EnumType Name="responseType"><Member Name="none" Value="0"/><Member Name="organizer" Value="1"/><Member Name="tentativelyAccepted" Value="2"/><Member Name="accepted" Value="3"/><Member Name="declined" Value="4"/><Member Name="notResponded" Value="5"/></EnumType>
      <EnumType Name="bodyType"><Member Name="text" Value="0"/><Member Name="html" Value="1"/></EnumType>
      <EnumType Name="taskStatus"><Member Name="notStarted" Value="0"/><Member Name="inProgress" Value="1"/><Member Name="completed" Value="2"/><Member Name="waitingOnOthers" Value="3"/><Member Name="deferred" Value="4"/></EnumType>
      <EnumType Name="recurrencePatternType"><Member Name="daily" Value="0"/><Member Name="weekly" Value="1"/><Member Name="absoluteMonthly" Value="2"/><Member Name="relativeMonthly" Value="3"/><Member Name="absoluteYearly" Value="4"/><Member Name="relativeYearly" Value="5"/></EnumType>
      <EnumType Name="recurrenceRangeType"><Member Name="endDate" Value="0"/><Member Name="noEnd" Value="1"/><Member Name="numbered" Value="2"/></EnumType>
      <EnumType Name="dayOfWeek"><Member Name="sunday" Value="0"/><Member Name="monday" Value="1"/><Member Name="tuesday" Value="2"/><Member Name="wednesday" Value="3"/><Member Name="thursday" Value="4"/><Member Name="friday" Value="5"/><Member Name="saturday" Value="6"/></EnumType>
      <EnumType Name="weekIndex"><Member Name="first" Value="0"/><Member Name="second" Value="1"/><Member Name="third" Value="2"/><Member Name="fourth" Value="3"/><Member Name="last" Value="4"/></EnumType>
      <EnumType Name="onlineMeetingProviderType"><Member Name="unknown" Value="0"/><Member Name="skypeForBusiness" Value="1"/><Member Name="skypeForConsumer" Value="2"/><Member Name="teamsForBusiness" Value="3"/></EnumType>
      <EnumType Name="locationType"><Member Name="default" Value="0"/><Member Name="conferenceRoom" Value="1"/><Member Name="homeAddress" Value="2"/><Member Name="businessAddress" Value="3"/><Member Name="geoCoordinates" Value="4"/><Member Name="streetAddress" Value="5"/><Member Name="hotel" Value="6"/><Member Name="restaurant" Value="7"/><Member Name="localBusiness" Value="8"/><Member Name="postalAddress" Value="9"/></EnumType>
      <EnumType Name="wellknownListName"><Member Name="none" Value="0"/><Member Name="defaultList" Value="1"/><Member Name="flaggedEmails" Value="2"/><Member Name="unknownFutureValue" Value="3"/></EnumType>

      <ComplexType Name="dateTimeTimeZone"><Property Name="dateTime" Type="Edm.String" Nullable="false"/><Property Name="timeZone" Type="Edm.String"/></ComplexType>
      <ComplexType Name="emailAddress"><Property Name="address" Type="Edm.String"/><Property Name="name" Type="Edm.String"/></ComplexType>
      <ComplexType Name="recipient"><Property Name="emailAddress" Type="graph.emailAddress"/></ComplexType>
      <ComplexType Name="responseStatus"><Property Name="response" Type="graph.responseType"/><Property Name="time" Type="Edm.DateTimeOffset"/></ComplexType>
      <ComplexType Name="attendeeBase" BaseType="graph.recipient"><Property Name="type" Type="graph.attendeeType"/></ComplexType>
      <ComplexType Name="attendee" BaseType="graph.attendeeBase"><Property Name="status" Type="graph.responseStatus"/></ComplexType>
      <ComplexType Name="itemBody"><Property Name="content" Type="Edm.String"/><Property Name="contentType" Type="graph.bodyType"/></ComplexType>
      <ComplexType Name="physicalAddress"><Property Name="city" Type="Edm.String"/><Property Name="countryOrRegion" Type="Edm.String"/><Property Name="postalCode" Type="Edm.String"/><Property Name="state" Type="Edm.String"/><Property Name="street" Type="Edm.String"/></ComplexType>
      <ComplexType Name="outlookGeoCoordinates"><Property Name="accuracy" Type="Edm.Double"/><Property Name="altitude" Type="Edm.Double"/><Property Name="altitudeAccuracy" Type="Edm.Double"/><Property Name="latitude" Type="Edm.Double"/><Property Name="longitude" Type="Edm.Double"/></ComplexType>
      <ComplexType Name="location"><Property Name="address" Type="graph.physicalAddress"/><Property Name="coordinates" Type="graph.outlookGeoCoordinates"/><Property Name="displayName" Type="Edm.String"/><Property Name="locationEmailAddress" Type="Edm.String"/><Property Name="locationType" Type="graph.locationType"/><Property Name="locationUri" Type="Edm.String"/><Property Name="uniqueId" Type="Edm.String"/><Property Name="uniqueIdType" Type="Edm.String"/></ComplexType>
      <ComplexType Name="recurrencePattern"><Property Name="dayOfMonth" Type="Edm.Int32" Nullable="false"/><Property Name="daysOfWeek" Type="Collection(graph.dayOfWeek)"/><Property Name="firstDayOfWeek" Type="graph.dayOfWeek"/><Property Name="index" Type="graph.weekIndex"/><Property Name="interval" Type="Edm.Int32" Nullable="false"/><Property Name="month" Type="Edm.Int32" Nullable="false"/><Property Name="type" Type="graph.recurrencePatternType"/></ComplexType>
      <ComplexType Name="recurrenceRange"><Property Name="endDate" Type="Edm.Date"/><Property Name="numberOfOccurrences" Type="Edm.Int32" Nullable="false"/><Property Name="recurrenceTimeZone" Type="Edm.String"/><Property Name="startDate" Type="Edm.Date"/><Property Name="type" Type="graph.recurrenceRangeType"/></ComplexType>
      <ComplexType Name="patternedRecurrence"><Property Name="pattern" Type="graph.recurrencePattern"/><Property Name="range" Type="graph.recurrenceRange"/></ComplexType>
      <ComplexType Name="onlineMeetingInfo"><Property Name="conferenceId" Type="Edm.String"/><Property Name="joinUrl" Type="Edm.String"/><Property Name="tollNumber" Type="Edm.String"/><Property Name="tollFreeNumbers" Type="Collection(Edm.String)"/></ComplexType>
      <ComplexType Name="followupFlag"><Property Name="flagStatus" Type="Edm.String"/></ComplexType>

      <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.String" Nullable="false"/></EntityType>
      <EntityType Name="outlookItem" BaseType="graph.entity" Abstract="true">
        <Property Name="categories" Type="Collection(Edm.String)"/>
        <Property Name="changeKey" Type="Edm.String"/>
        <Property Name="createdDateTime" Type="Edm.DateTimeOffset"/>
        <Property Name="lastModifiedDateTime" Type="Edm.DateTimeOffset"/>
      </EntityType>
      <EntityType Name="event" BaseType="graph.outlookItem" OpenType="true">
        <Property Name="allowNewTimeProposals" Type="Edm.Boolean"/>
        <Property Name="attendees" Type="Collection(graph.attendee)"/>
        <Property Name="body" Type="graph.itemBody"/>
        <Property Name="bodyPreview" Type="Edm.String"/>
        <Property Name="end" Type="graph.dateTimeTimeZone"/>
        <Property Name="hasAttachments" Type="Edm.Boolean"/>
        <Property Name="hideAttendees" Type="Edm.Boolean"/>
        <Property Name="iCalUId" Type="Edm.String"/>
        <Property Name="importance" Type="graph.importance"/>
        <Property Name="isAllDay" Type="Edm.Boolean"/>
        <Property Name="isCancelled" Type="Edm.Boolean"/>
        <Property Name="isDraft" Type="Edm.Boolean"/>
        <Property Name="isOnlineMeeting" Type="Edm.Boolean"/>
        <Property Name="isOrganizer" Type="Edm.Boolean"/>
        <Property Name="isReminderOn" Type="Edm.Boolean"/>
        <Property Name="location" Type="graph.location"/>
        <Property Name="locations" Type="Collection(graph.location)"/>
        <Property Name="onlineMeeting" Type="graph.onlineMeetingInfo"/>
        <Property Name="onlineMeetingProvider" Type="graph.onlineMeetingProviderType"/>
        <Property Name="onlineMeetingUrl" Type="Edm.String"/>
        <Property Name="organizer" Type="graph.recipient"/>
        <Property Name="originalEndTimeZone" Type="Edm.String"/>
        <Property Name="originalStart" Type="Edm.DateTimeOffset"/>
        <Property Name="originalStartTimeZone" Type="Edm.String"/>
        <Property Name="recurrence" Type="graph.patternedRecurrence"/>
        <Property Name="reminderMinutesBeforeStart" Type="Edm.Int32"/>
        <Property Name="responseRequested" Type="Edm.Boolean"/>
        <Property Name="responseStatus" Type="graph.responseStatus"/>
        <Property Name="sensitivity" Type="graph.sensitivity"/>
        <Property Name="seriesMasterId" Type="Edm.String"/>
        <Property Name="showAs" Type="graph.freeBusyStatus"/>
        <Property Name="start" Type="graph.dateTimeTimeZone"/>
        <Property Name="subject" Type="Edm.String"/>
        <Property Name="transactionId" Type="Edm.String"/>
        <Property Name="type" Type="graph.eventType"/>
        <Property Name="webLink" Type="Edm.String"/>
        <NavigationProperty Name="instances" Type="Collection(graph.event)"/>
      </EntityType>
      <EntityType Name="contact" BaseType="graph.outlookItem" OpenType="true">
        <Property Name="assistantName" Type="Edm.String"/>
        <Property Name="birthday" Type="Edm.DateTimeOffset"/>
        <Property Name="businessAddress" Type="graph.physicalAddress"/>
        <Property Name="businessHomePage" Type="Edm.String"/>
        <Property Name="businessPhones" Type="Collection(Edm.String)"/>
        <Property Name="children" Type="Collection(Edm.String)"/>
        <Property Name="companyName" Type="Edm.String"/>
        <Property Name="department" Type="Edm.String"/>
        <Property Name="displayName" Type="Edm.String"/>
        <Property Name="emailAddresses" Type="Collection(graph.emailAddress)"/>
        <Property Name="fileAs" Type="Edm.String"/>
        <Property Name="generation" Type="Edm.String"/>
        <Property Name="givenName" Type="Edm.String"/>
        <Property Name="homeAddress" Type="graph.physicalAddress"/>
        <Property Name="homePhones" Type="Collection(Edm.String)"/>
        <Property Name="imAddresses" Type="Collection(Edm.String)"/>
        <Property Name="initials" Type="Edm.String"/>
        <Property Name="jobTitle" Type="Edm.String"/>
        <Property Name="manager" Type="Edm.String"/>
        <Property Name="middleName" Type="Edm.String"/>
        <Property Name="mobilePhone" Type="Edm.String"/>
        <Property Name="nickName" Type="Edm.String"/>
        <Property Name="officeLocation" Type="Edm.String"/>
        <Property Name="otherAddress" Type="graph.physicalAddress"/>
        <Property Name="parentFolderId" Type="Edm.String"/>
        <Property Name="personalNotes" Type="Edm.String"/>
        <Property Name="profession" Type="Edm.String"/>
        <Property Name="spouseName" Type="Edm.String"/>
        <Property Name="surname" Type="Edm.String"/>
        <Property Name="title" Type="Edm.String"/>
      </EntityType>
      <EntityType Name="message" BaseType="graph.outlookItem" OpenType="true">
        <Property Name="bccRecipients" Type="Collection(graph.recipient)"/>
        <Property Name="body" Type="graph.itemBody"/>
        <Property Name="bodyPreview" Type="Edm.String"/>
        <Property Name="ccRecipients" Type="Collection(graph.recipient)"/>
        <Property Name="conversationId" Type="Edm.String"/>
        <Property Name="flag" Type="graph.followupFlag"/>
        <Property Name="from" Type="graph.recipient"/>
        <Property Name="hasAttachments" Type="Edm.Boolean"/>
        <Property Name="importance" Type="graph.importance"/>
        <Property Name="internetMessageId" Type="Edm.String"/>
        <Property Name="isDraft" Type="Edm.Boolean"/>
        <Property Name="isRead" Type="Edm.Boolean"/>
        <Property Name="parentFolderId" Type="Edm.String"/>
        <Property Name="receivedDateTime" Type="Edm.DateTimeOffset"/>
        <Property Name="replyTo" Type="Collection(graph.recipient)"/>
        <Property Name="sender" Type="graph.recipient"/>
        <Property Name="sentDateTime" Type="Edm.DateTimeOffset"/>
        <Property Name="subject" Type="Edm.String"/>
        <Property Name="toRecipients" Type="Collection(graph.recipient)"/>
        <Property Name="webLink" Type="Edm.String"/>
      </EntityType>
      <EntityType Name="todoTask" BaseType="graph.entity" OpenType="true">
        <Property Name="body" Type="graph.itemBody"/>
        <Property Name="bodyLastModifiedDateTime" Type="Edm.DateTimeOffset" Nullable="false"/>
        <Property Name="categories" Type="Collection(Edm.String)"/>
        <Property Name="completedDateTime" Type="graph.dateTimeTimeZone"/>
        <Property Name="createdDateTime" Type="Edm.DateTimeOffset" Nullable="false"/>
        <Property Name="dueDateTime" Type="graph.dateTimeTimeZone"/>
        <Property Name="hasAttachments" Type="Edm.Boolean"/>
        <Property Name="importance" Type="graph.importance" Nullable="false"/>
        <Property Name="isReminderOn" Type="Edm.Boolean" Nullable="false"/>
        <Property Name="lastModifiedDateTime" Type="Edm.DateTimeOffset" Nullable="false"/>
        <Property Name="recurrence" Type="graph.patternedRecurrence"/>
        <Property Name="reminderDateTime" Type="graph.dateTimeTimeZone"/>
        <Property Name="startDateTime" Type="graph.dateTimeTimeZone"/>
        <Property Name="status" Type="graph.taskStatus" Nullable="false"/>
        <Property Name="title" Type="Edm.String"/>
      </EntityType>
      <EntityType Name="todoTaskList" BaseType="graph.entity" OpenType="true">
        <Property Name="displayName" Type="Edm.String"/>
        <Property Name="isOwner" Type="Edm.Boolean" Nullable="false"/>
        <Property Name="isShared" Type="Edm.Boolean" Nullable="false"/>
        <Property Name="wellknownListName" Type="graph.wellknownListName" Nullable="false"/>
        <NavigationProperty Name="tasks" Type="Collection(graph.todoTask)" ContainsTarget="true"/>
      </EntityType>
      <EntityType Name="directoryObject" BaseType="graph.entity" OpenType="true">
        <Property Name="deletedDateTime" Type="Edm.DateTimeOffset"/>
      </EntityType>
      <EntityType Name="user" BaseType="graph.directoryObject" OpenType="true">
        <Property Name="accountEnabled" Type="Edm.Boolean"/>
        <Property Name="businessPhones" Type="Collection(Edm.String)" Nullable="false"/>
        <Property Name="department" Type="Edm.String"/>
        <Property Name="displayName" Type="Edm.String"/>
        <Property Name="givenName" Type="Edm.String"/>
        <Property Name="jobTitle" Type="Edm.String"/>
        <Property Name="mail" Type="Edm.String"/>
        <Property Name="mobilePhone" Type="Edm.String"/>
        <Property Name="officeLocation" Type="Edm.String"/>
        <Property Name="preferredLanguage" Type="Edm.String"/>
        <Property Name="surname" Type="Edm.String"/>
        <Property Name="userPrincipalName" Type="Edm.String"/>
        <Property Name="userType" Type="Edm.String"/>
        <NavigationProperty Name="events" Type="Collection(graph.event)" ContainsTarget="true"/>
        <NavigationProperty Name="contacts" Type="Collection(graph.contact)" ContainsTarget="true"/>
        <NavigationProperty Name="messages" Type="Collection(graph.message)" ContainsTarget="true"/>
      </EntityType>
      <EntityType Name="group" BaseType="graph.directoryObject" OpenType="true">
        <Property Name="description" Type="Edm.String"/>
        <Property Name="displayName" Type="Edm.String"/>
        <Property Name="groupTypes" Type="Collection(Edm.String)" Nullable="false"/>
        <Property Name="mail" Type="Edm.String"/>
        <Property Name="mailEnabled" Type="Edm.Boolean"/>
        <Property Name="mailNickname" Type="Edm.String"/>
        <Property Name="securityEnabled" Type="Edm.Boolean"/>
        <NavigationProperty Name="members" Type="Collection(graph.directoryObject)"/>
        <NavigationProperty Name="transitiveMembers" Type="Collection(graph.directoryObject)"/>
      </EntityType>
      <EntityContainer Name="GraphService">
        <EntitySet Name="users" EntityType="microsoft.graph.user"/>
        <EntitySet Name="groups" EntityType="microsoft.graph.group"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
`
