-- A model is one SELECT, building the relation marts.station_days (its
-- folder is its schema, its file its name). Its header sets how it is
-- built and checked; the reference: docs/models.md.
-- materialized: table
-- description: Trips per start station and day: how many, the minutes ridden and the fares taken.
-- column trips: trips that started at the station that day
-- column electric_trips: of them, on an electric bike
-- column promo_trips: of them, paid with a promotion code
-- column minutes: minutes ridden on those trips
-- column fares: fares taken for them, in pounds
-- check: unique(start_station, trip_date)
-- check: not_null(start_station, trip_date)
SELECT start_station,
       trip_date,
       count(*)::integer AS trips,
       count(*) FILTER (WHERE bike_type = 'electric')::integer AS electric_trips,
       count(promo_code)::integer AS promo_trips,
       sum(minutes)::integer AS minutes,
       sum(fare) AS fares
FROM staging.trips
GROUP BY start_station, trip_date
